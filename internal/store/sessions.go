package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Console sessions are stored so that signing out holds across restarts
// and nodes: a session is valid while its row exists and has not expired.
// Rows are keyed by a hash of the session id, so the table alone cannot be
// replayed as cookies.

func sessionKey(id []byte) string {
	h := sha256.Sum256(id)
	return hex.EncodeToString(h[:])
}

// AddSession records a new console session valid until expires, and deletes
// the expired ones.
func (s *Store) AddSession(ctx context.Context, id []byte, expires time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM console_sessions WHERE expires_at <= ?`),
			time.Now().Unix()); err != nil {
			return fmt.Errorf("store: prune sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO console_sessions (id, expires_at) VALUES (?, ?)`),
			sessionKey(id), expires.Unix()); err != nil {
			return fmt.Errorf("store: add session: %w", err)
		}
		return nil
	})
}

// SessionActive reports whether the session id exists and has not expired
// at now.
func (s *Store) SessionActive(ctx context.Context, id []byte, now time.Time) (bool, error) {
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT expires_at FROM console_sessions WHERE id = ?`), sessionKey(id)).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read session: %w", err)
	}
	return now.Unix() < exp, nil
}

// EndSession deletes one session (sign-out).
func (s *Store) EndSession(ctx context.Context, id []byte) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM console_sessions WHERE id = ?`), sessionKey(id)); err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// EndAllSessions deletes every session (sign out everywhere) and returns
// how many were still valid.
func (s *Store) EndAllSessions(ctx context.Context) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = endAll(ctx, s, tx)
		return err
	})
	return n, err
}

// PutMetaEndingSessions stores value under name and deletes every session,
// in one transaction: a new console password signs everyone out. It
// returns how many sessions were still valid.
func (s *Store) PutMetaEndingSessions(ctx context.Context, name, value string) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`), name, value); err != nil {
			return fmt.Errorf("store: write %s: %w", name, err)
		}
		var err error
		n, err = endAll(ctx, s, tx)
		return err
	})
	return n, err
}

func endAll(ctx context.Context, s *Store, tx *sql.Tx) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM console_sessions WHERE expires_at > ?`),
		time.Now().Unix()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions`); err != nil {
		return 0, fmt.Errorf("store: end sessions: %w", err)
	}
	return n, nil
}
