package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
)

const appColumns = `id, key, secret, name, enabled, client_events, user_auth, subscription_count,
	max_connections, max_presence_members, max_client_events_per_second, daily_message_quota, webhooks,
	allowed_origins, history`

type scanner interface{ Scan(dest ...any) error }

func scanApp(r scanner) (*apps.App, error) {
	var a apps.App
	var hooks, origins, history string
	err := r.Scan(&a.ID, &a.Key, &a.Secret, &a.Name, &a.Enabled, &a.ClientEvents, &a.UserAuth,
		&a.SubscriptionCount, &a.MaxConnections, &a.MaxPresenceMembers, &a.MaxClientEventsPerSecond,
		&a.DailyMessageQuota, &hooks, &origins, &history)
	if err != nil {
		return nil, err
	}
	a.History = apps.Defaults().History
	if history != "" { // "" in rows written before the column existed: the defaults
		if err := json.Unmarshal([]byte(history), &a.History); err != nil {
			return nil, fmt.Errorf("store: app %s: history: %w", a.ID, err)
		}
	}
	if len(a.History.Channels) == 0 {
		a.History.Channels = nil
	}
	if origins != "" { // "" in rows written before the column existed
		if err := json.Unmarshal([]byte(origins), &a.AllowedOrigins); err != nil {
			return nil, fmt.Errorf("store: app %s: allowed_origins: %w", a.ID, err)
		}
	}
	if len(a.AllowedOrigins) == 0 {
		a.AllowedOrigins = nil
	}
	if err := json.Unmarshal([]byte(hooks), &a.Webhooks); err != nil {
		return nil, fmt.Errorf("store: app %s: webhooks: %w", a.ID, err)
	}
	if len(a.Webhooks) == 0 {
		a.Webhooks = nil
	}
	return &a, nil
}

// Apps returns every stored app, sorted by id.
func (s *Store) Apps(ctx context.Context) ([]*apps.App, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list apps: %w", err)
	}
	defer rows.Close()
	var out []*apps.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list apps: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list apps: %w", err)
	}
	return out, nil
}

// App returns the stored app with id, or ErrNotFound.
func (s *Store) App(ctx context.Context, id string) (*apps.App, error) {
	return s.app(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) app(ctx context.Context, q querier, id string) (*apps.App, error) {
	a, err := scanApp(q.QueryRowContext(ctx, s.q(`SELECT `+appColumns+` FROM apps WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read app: %w", err)
	}
	return a, nil
}

// CreateApp stores a new app with st (usually apps.Defaults() and what the
// user set; the name is trimmed) and generated id, key and secret. Invalid
// settings are refused with apps.FieldErrors.
func (s *Store) CreateApp(ctx context.Context, st apps.Settings) (*apps.App, error) {
	st.Name = strings.TrimSpace(st.Name)
	if err := st.Validate(); err != nil {
		return nil, err
	}
	a := &apps.App{Settings: st}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for attempt := 0; ; attempt++ {
			var err error
			if a.ID, a.Key, a.Secret, err = newCredentials(); err != nil {
				return err
			}
			taken, err := s.taken(ctx, tx, a.ID, a.Key)
			if err != nil {
				return err
			}
			if !taken {
				break
			}
			if attempt == 10 {
				return errors.New("store: could not generate a free app id")
			}
		}
		now := millis(time.Now())
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO apps (`+appColumns+`, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), append(appValues(a), now, now)...)
		if err != nil {
			return fmt.Errorf("store: create app: %w", err)
		}
		return s.bumpVersion(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Store) taken(ctx context.Context, tx *sql.Tx, id, key string) (bool, error) {
	if s.reserved(id, key) {
		return true, nil
	}
	var n int
	err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM apps WHERE id = ? OR key = ?`), id, key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: create app: %w", err)
	}
	return n > 0, nil
}

func appValues(a *apps.App) []any {
	list := a.Webhooks
	if list == nil {
		list = []apps.Webhook{}
	}
	hooks, _ := json.Marshal(list) // cannot fail: strings only
	origins := a.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	originsJSON, _ := json.Marshal(origins)   // cannot fail: strings only
	historyJSON, _ := json.Marshal(a.History) // cannot fail: strings and ints
	return []any{a.ID, a.Key, a.Secret, a.Name, a.Enabled, a.ClientEvents, a.UserAuth, a.SubscriptionCount,
		a.MaxConnections, a.MaxPresenceMembers, a.MaxClientEventsPerSecond, a.DailyMessageQuota, string(hooks),
		string(originsJSON), string(historyJSON)}
}

// UpdateApp lets change edit the stored settings of the app with id, in one
// transaction. An error from change, or apps.FieldErrors when the changed
// settings are invalid (the name is trimmed first), leaves the app as it was.
func (s *Store) UpdateApp(ctx context.Context, id string, change func(*apps.Settings) error) (*apps.App, error) {
	return s.modify(ctx, id, func(a *apps.App) error {
		if err := change(&a.Settings); err != nil {
			return err
		}
		a.Name = strings.TrimSpace(a.Name)
		return a.Validate()
	})
}

// RotateSecret gives the app with id a new generated secret. Requests signed
// with the old secret fail from then on.
func (s *Store) RotateSecret(ctx context.Context, id string) (*apps.App, error) {
	return s.modify(ctx, id, func(a *apps.App) error {
		secret, err := randomHex(10)
		a.Secret = secret
		return err
	})
}

// modify reads, changes and writes one app in a transaction.
func (s *Store) modify(ctx context.Context, id string, change func(*apps.App) error) (*apps.App, error) {
	var out *apps.App
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.app(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := change(a); err != nil {
			return err
		}
		v := appValues(a)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE apps SET secret = ?, name = ?, enabled = ?, client_events = ?,
			user_auth = ?, subscription_count = ?, max_connections = ?, max_presence_members = ?,
			max_client_events_per_second = ?, daily_message_quota = ?, webhooks = ?, allowed_origins = ?, history = ?,
			updated_at = ?
			WHERE id = ?`), append(v[2:], millis(time.Now()), id)...)
		if err != nil {
			return fmt.Errorf("store: update app: %w", err)
		}
		out = a
		return s.bumpVersion(ctx, tx)
	})
	return out, err
}

// DeleteApp removes the app with id and its usage history.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM apps WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("store: delete app: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM usage WHERE app_id = ?`), id); err != nil {
			return fmt.Errorf("store: delete app usage: %w", err)
		}
		return s.bumpVersion(ctx, tx)
	})
}

// newCredentials returns a 7-digit numeric id (like Pusher's app ids) and a
// 20-hex-digit key and secret, all from crypto/rand.
func newCredentials() (id, key, secret string, err error) {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000))
	if err != nil {
		return "", "", "", fmt.Errorf("store: random: %w", err)
	}
	id = fmt.Sprint(1_000_000 + n.Int64())
	if key, err = randomHex(10); err != nil {
		return "", "", "", err
	}
	secret, err = randomHex(10)
	return id, key, secret, err
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// SeedApp stores a, with its own credentials, only if the store holds no app
// at all; it reports whether it did. Several processes starting at once
// store it at most once.
func (s *Store) SeedApp(ctx context.Context, a *apps.App) (bool, error) {
	seeded := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM apps`).Scan(&n); err != nil {
			return fmt.Errorf("store: seed app: %w", err)
		}
		if n > 0 {
			return nil
		}
		now := millis(time.Now())
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO apps (`+appColumns+`, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), append(appValues(a), now, now)...)
		if err != nil {
			return fmt.Errorf("store: seed app: %w", err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return nil
		}
		seeded = true
		return s.bumpVersion(ctx, tx)
	})
	return seeded, err
}

// TakenError refuses an import whose app id or key is already in use.
type TakenError struct{ ID, Key string }

func (e *TakenError) Error() string {
	return fmt.Sprintf("store: app id %q or key %q is already in use", e.ID, e.Key)
}

// ImportApps stores apps with their own credentials (an import from another
// server), all or none, in one transaction: invalid settings are refused with
// apps.FieldErrors, an id or key already in use (stored, or reserved by the
// config file) with *TakenError, and nothing is stored.
func (s *Store) ImportApps(ctx context.Context, list []*apps.App) error {
	for _, a := range list {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := millis(time.Now())
		for _, a := range list {
			taken, err := s.taken(ctx, tx, a.ID, a.Key)
			if err != nil {
				return err
			}
			if taken {
				return &TakenError{ID: a.ID, Key: a.Key}
			}
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO apps (`+appColumns+`, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), append(appValues(a), now, now)...)
			if err != nil {
				return fmt.Errorf("store: import app %s: %w", a.ID, err)
			}
		}
		return s.bumpVersion(ctx, tx)
	})
}
