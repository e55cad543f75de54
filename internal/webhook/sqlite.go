package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/dbfile"

	_ "modernc.org/sqlite" // SQLite driver "sqlite", pure Go
)

// SQLite is the default Outbox: two tables in the embedded store's database
// file. It is safe for concurrent use; all access goes through one
// connection so that the outbox's own writers queue in Go instead of
// polling SQLite's busy handler. Other processes (the app store, the pixiu
// webhooks CLI) may open the same file: WAL mode and a busy timeout make
// them wait for each other.
type SQLite struct {
	db *sql.DB
}

var _ Outbox = (*SQLite)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS webhook_entries (
	id      INTEGER PRIMARY KEY,
	app_id  TEXT    NOT NULL,
	url     TEXT    NOT NULL,
	grp     TEXT    NOT NULL,
	time_ms INTEGER NOT NULL,
	event   BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_batches (
	seq        INTEGER PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	app_id     TEXT    NOT NULL,
	url        TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	events     INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_ms    INTEGER NOT NULL,
	dead       INTEGER NOT NULL DEFAULT 0,
	last_error TEXT    NOT NULL DEFAULT '',
	updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_batches_lane ON webhook_batches (dead, app_id, url, seq);
CREATE INDEX IF NOT EXISTS webhook_batches_dead ON webhook_batches (dead, updated_ms);
`

// OpenSQLite opens (creating if needed) the outbox in the SQLite file at
// path, creating its directory. The file is the store's and holds secrets:
// it is made private (0600, directory 0700; changes logged on log, which may
// be nil). Durability: synchronous=FULL, so a committed event survives a
// power cut, not only a process crash.
func OpenSQLite(path string, log *slog.Logger) (*SQLite, error) {
	if err := dbfile.Prepare(path, log); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("webhook outbox: %s: %w", path, err)
	}
	return &SQLite{db: db}, nil
}

// Close closes the database.
func (o *SQLite) Close() error { return o.db.Close() }

// Append implements Outbox.
func (o *SQLite) Append(ctx context.Context, entries []*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	return o.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx,
			`INSERT INTO webhook_entries (app_id, url, grp, time_ms, event) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		ids := make([]int64, len(entries))
		for i, e := range entries {
			res, err := st.ExecContext(ctx, e.AppID, e.URL, e.Group, e.Time.UnixMilli(), e.Event)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		for i, e := range entries { // only once the transaction is sure to commit
			e.ID = ids[i]
		}
		return nil
	})
}

// Unsealed implements Outbox.
func (o *SQLite) Unsealed(ctx context.Context) ([]*Entry, error) {
	rows, err := o.db.QueryContext(ctx,
		`SELECT id, app_id, url, grp, time_ms, event FROM webhook_entries ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	defer rows.Close()
	var out []*Entry
	for rows.Next() {
		e := &Entry{}
		var ms int64
		if err := rows.Scan(&e.ID, &e.AppID, &e.URL, &e.Group, &ms, &e.Event); err != nil {
			return nil, fmt.Errorf("webhook outbox: %w", err)
		}
		e.Time = time.UnixMilli(ms)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	return out, nil
}

// Seal implements Outbox.
func (o *SQLite) Seal(ctx context.Context, batches []*Batch, entryIDs []int64) error {
	return o.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO webhook_batches
			(id, app_id, url, body, events, created_ms, attempts, next_ms, updated_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, b := range batches {
			_, err := ins.ExecContext(ctx, b.ID, b.AppID, b.URL, b.Body, b.Events,
				b.Created.UnixMilli(), b.Attempts, b.NextAt.UnixMilli(), b.Created.UnixMilli())
			if err != nil {
				return err
			}
		}
		del, err := tx.PrepareContext(ctx, `DELETE FROM webhook_entries WHERE id = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, id := range entryIDs {
			if _, err := del.ExecContext(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Lanes implements Outbox.
func (o *SQLite) Lanes(ctx context.Context) ([]Lane, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT DISTINCT app_id, url FROM webhook_batches WHERE dead = 0`)
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	defer rows.Close()
	var out []Lane
	for rows.Next() {
		var l Lane
		if err := rows.Scan(&l.AppID, &l.URL); err != nil {
			return nil, fmt.Errorf("webhook outbox: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	return out, nil
}

const batchColumns = `id, app_id, url, body, events, created_ms, attempts, next_ms, last_error, dead, updated_ms`

func scanBatch(s interface{ Scan(...any) error }) (*Batch, error) {
	b := &Batch{}
	var created, next, updated int64
	if err := s.Scan(&b.ID, &b.AppID, &b.URL, &b.Body, &b.Events, &created, &b.Attempts, &next,
		&b.LastError, &b.Dead, &updated); err != nil {
		return nil, err
	}
	b.Created, b.NextAt, b.Updated = time.UnixMilli(created), time.UnixMilli(next), time.UnixMilli(updated)
	return b, nil
}

// Head implements Outbox.
func (o *SQLite) Head(ctx context.Context, l Lane) (*Batch, error) {
	row := o.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM webhook_batches
		WHERE dead = 0 AND app_id = ? AND url = ? ORDER BY seq LIMIT 1`, l.AppID, l.URL)
	b, err := scanBatch(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	return b, nil
}

// Settle implements Outbox.
func (o *SQLite) Settle(ctx context.Context, id string, r Result) error {
	now := time.Now().UnixMilli()
	var err error
	switch r.State {
	case Delivered:
		_, err = o.db.ExecContext(ctx, `DELETE FROM webhook_batches WHERE id = ?`, id)
	case Retry:
		_, err = o.db.ExecContext(ctx, `UPDATE webhook_batches SET attempts = ?, next_ms = ?, last_error = ?,
			updated_ms = ? WHERE id = ?`, r.Attempts, r.NextAt.UnixMilli(), r.Err, now, id)
	case Dead:
		_, err = o.db.ExecContext(ctx, `UPDATE webhook_batches SET dead = 1, attempts = ?, last_error = ?,
			updated_ms = ? WHERE id = ?`, r.Attempts, r.Err, now, id)
	default:
		return fmt.Errorf("webhook outbox: settle %s: unknown state %d", id, r.State)
	}
	if err != nil {
		return fmt.Errorf("webhook outbox: settle %s: %w", id, err)
	}
	return nil
}

// deadWhere returns the condition selecting the dead letters f matches,
// without order or limit (see deadOrder).
func deadWhere(f Filter) (string, []any) {
	where, args := "dead = 1", []any{}
	if f.AppID != "" {
		where += " AND app_id = ?"
		args = append(args, f.AppID)
	}
	if !f.DeadBefore.IsZero() {
		where += " AND updated_ms < ?"
		args = append(args, f.DeadBefore.UnixMilli())
	}
	if f.IDs != nil {
		where += " AND id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(f.IDs)), ",") + ")"
		if len(f.IDs) == 0 {
			where += " AND 0"
		}
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	return where, args
}

// deadOrder is deadWhere with the order (oldest first) and f's limit.
func deadOrder(f Filter) (string, []any) {
	where, args := deadWhere(f)
	where += " ORDER BY seq"
	if f.Limit > 0 {
		where += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return where, args
}

// DeadLetters implements Outbox.
func (o *SQLite) DeadLetters(ctx context.Context, f Filter) ([]*Batch, error) {
	where, args := deadOrder(f)
	rows, err := o.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM webhook_batches WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	defer rows.Close()
	var out []*Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("webhook outbox: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	return out, nil
}

// Replay implements Outbox. A replayed batch keeps its id and body (so a
// receiver can still de-duplicate it) and is queued behind every pending
// batch of its lane.
func (o *SQLite) Replay(ctx context.Context, f Filter) (int, error) {
	where, args := deadOrder(f)
	n := 0
	err := o.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+batchColumns+` FROM webhook_batches WHERE `+where, args...)
		if err != nil {
			return err
		}
		var list []*Batch
		for rows.Next() {
			b, err := scanBatch(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		for _, b := range list {
			// Deleting and inserting again gives the batch a new seq: the
			// end of its lane.
			if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_batches WHERE id = ?`, b.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO webhook_batches
				(id, app_id, url, body, events, created_ms, attempts, next_ms, last_error, updated_ms)
				VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
				b.ID, b.AppID, b.URL, b.Body, b.Events, now, now, "replayed; before: "+b.LastError, now)
			if err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Purge implements Outbox.
func (o *SQLite) Purge(ctx context.Context, f Filter) (int, error) {
	where, args := deadWhere(f)
	res, err := o.db.ExecContext(ctx, `DELETE FROM webhook_batches WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("webhook outbox: purge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("webhook outbox: purge: %w", err)
	}
	return int(n), nil
}

// Size implements Outbox.
func (o *SQLite) Size(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM webhook_entries) +
		(SELECT coalesce(sum(events), 0) FROM webhook_batches WHERE dead = 0)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("webhook outbox: size: %w", err)
	}
	return n, nil
}

// Oldest implements Outbox.
func (o *SQLite) Oldest(ctx context.Context) (time.Time, error) {
	var ms sql.NullInt64
	err := o.db.QueryRowContext(ctx, `SELECT min(t) FROM (
		SELECT (SELECT time_ms FROM webhook_entries ORDER BY id LIMIT 1) AS t
		UNION ALL SELECT min(created_ms) FROM webhook_batches WHERE dead = 0)`).Scan(&ms)
	if err != nil {
		return time.Time{}, fmt.Errorf("webhook outbox: oldest: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms.Int64), nil
}

// Counts are the outbox's sizes.
type Counts struct {
	Unsealed int // events waiting to be batched
	Pending  int // batches waiting for delivery
	Dead     int // dead letters
}

// Counts returns the outbox's sizes.
func (o *SQLite) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := o.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM webhook_entries),
		(SELECT count(*) FROM webhook_batches WHERE dead = 0),
		(SELECT count(*) FROM webhook_batches WHERE dead = 1)`).Scan(&c.Unsealed, &c.Pending, &c.Dead)
	if err != nil {
		return c, fmt.Errorf("webhook outbox: %w", err)
	}
	return c, nil
}

func (o *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhook outbox: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("webhook outbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("webhook outbox: %w", err)
	}
	return nil
}
