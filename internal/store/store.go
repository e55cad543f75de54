package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/dbfile"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite", pure Go
)

// Options select the database. Zero values mean the documented default.
type Options struct {
	// Path is the SQLite file (created with its directory when missing).
	// Default "pixiu-data/pixiu.db". Ignored when DSN is set.
	Path string
	// DSN selects PostgreSQL: "postgres://user@host:5432/db?sslmode=disable".
	// Extra parameters such as search_path are passed to the server.
	DSN string
	// Reserved reports whether an id or key is taken outside the store (the
	// config file's apps); generated credentials avoid them. May be nil.
	Reserved func(id, key string) bool
	// Log receives the one kind of line the store writes: that it made the
	// SQLite files private (0600). Default: discard.
	Log *slog.Logger
}

// ErrNotFound is returned for an unknown app id.
var ErrNotFound = errors.New("store: app not found")

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	d        dialect
	reserved func(id, key string) bool
}

// dialect holds what differs between the engines.
type dialect struct {
	name     string // "sqlite" or "postgres"
	numbered bool   // placeholders are $1, $2, … instead of ?
}

// Open opens (and creates or migrates) the database chosen by opts.
func Open(ctx context.Context, opts Options) (*Store, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	if opts.DSN != "" {
		d = dialect{name: "postgres", numbered: true}
		db, err = sql.Open("pgx", opts.DSN)
	} else {
		d = dialect{name: "sqlite"}
		db, err = openSQLite(opts.Path, opts.Log)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", d.name, err)
	}
	s := &Store{db: db, d: d, reserved: opts.Reserved}
	if s.reserved == nil {
		s.reserved = func(string, string) bool { return false }
	}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func openSQLite(path string, log *slog.Logger) (*sql.DB, error) {
	if path == "" {
		path = "pixiu-data/pixiu.db"
	}
	// The file holds secrets: 0600 in a 0700 directory (-wal and -shm
	// inherit the file's mode).
	if err := dbfile.Prepare(path, log); err != nil {
		return nil, err
	}
	// WAL lets readers run beside one writer; busy_timeout makes a second
	// process (the CLI beside a running server) wait instead of failing;
	// immediate transactions take the write lock up front so two writers
	// never deadlock upgrading a read lock.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

// Engine returns "sqlite" or "postgres".
func (s *Store) Engine() string { return s.d.name }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

var schema = []string{
	`CREATE TABLE IF NOT EXISTS apps (
		id TEXT PRIMARY KEY,
		key TEXT NOT NULL UNIQUE,
		secret TEXT NOT NULL,
		name TEXT NOT NULL,
		enabled BOOLEAN NOT NULL,
		client_events BOOLEAN NOT NULL,
		user_auth BOOLEAN NOT NULL,
		subscription_count BOOLEAN NOT NULL,
		max_connections INTEGER NOT NULL,
		max_presence_members INTEGER NOT NULL,
		max_client_events_per_second INTEGER NOT NULL,
		daily_message_quota BIGINT NOT NULL,
		webhooks TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS usage (
		app_id TEXT NOT NULL,
		hour BIGINT NOT NULL,
		messages BIGINT NOT NULL,
		peak_connections BIGINT NOT NULL,
		PRIMARY KEY (app_id, hour)
	)`,
	`CREATE TABLE IF NOT EXISTS meta (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS console_sessions (
		id TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL
	)`,
}

// migrate creates the tables; concurrent first starts (several nodes, or the
// CLI beside the server) are safe because every statement is idempotent.
func (s *Store) migrate(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.name == "postgres" {
			// Concurrent CREATE TABLE IF NOT EXISTS can still collide in
			// PostgreSQL's catalog: serialize first starts of several nodes.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7073726975)`); err != nil {
				return err
			}
		}
		for _, q := range schema {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create schema: %w", err)
	}
	if err := s.addColumn(ctx, "apps", "allowed_origins", `TEXT NOT NULL DEFAULT ''`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := s.addColumn(ctx, "apps", "history", `TEXT NOT NULL DEFAULT ''`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, _, err := s.PutMetaIfAbsent(ctx, "schema_version", "1"); err != nil {
		return err
	}
	_, _, err = s.PutMetaIfAbsent(ctx, metaAppsVersion, "0")
	return err
}

// addColumn adds a column to a table created by an older version, unless it
// is there already. Safe when several processes start at once.
func (s *Store) addColumn(ctx context.Context, table, column, decl string) error {
	if s.d.name == "postgres" {
		_, err := s.db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN IF NOT EXISTS `+column+` `+decl)
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { // immediate: one process at a time
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('`+table+`') WHERE name = ?`, column).Scan(&n)
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+decl)
		return err
	})
}

// q rewrites ? placeholders for the engine.
func (s *Store) q(query string) string {
	if !s.d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// inTx runs f in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

const metaAppsVersion = "apps_version"

// Meta returns a server setting; ok is false when it is not set.
func (s *Store) Meta(ctx context.Context, name string) (value string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE name = ?`), name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: read %s: %w", name, err)
	}
	return value, true, nil
}

// PutMetaIfAbsent stores value under name unless a value is already there.
// It returns the stored value and whether this call stored it, so that of
// several nodes starting at once exactly one wins.
func (s *Store) PutMetaIfAbsent(ctx context.Context, name, value string) (string, bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value)
	if err != nil {
		return "", false, fmt.Errorf("store: write %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return value, true, nil
	}
	stored, _, err := s.Meta(ctx, name)
	return stored, false, err
}

// PutMeta stores value under name, replacing any previous value.
func (s *Store) PutMeta(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`), name, value)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	return nil
}

// Version returns a number that changes whenever an app is created, changed
// or deleted, by any process. It is one indexed read: cheap to poll.
func (s *Store) Version(ctx context.Context) (int64, error) {
	v, _, err := s.Meta(ctx, metaAppsVersion)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: apps version %q: %w", v, err)
	}
	return n, nil
}

func (s *Store) bumpVersion(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE name = ?`), metaAppsVersion)
	if err != nil {
		return fmt.Errorf("store: bump apps version: %w", err)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }
