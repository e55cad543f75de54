package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UsageDelta is what one node counted for an app during part of one hour.
type UsageDelta struct {
	AppID    string
	Hour     time.Time // start of the UTC hour
	Messages int64     // added to the hour's count
	Peak     int64     // the hour keeps the largest peak it was given
}

// UsageHour is one hour of an app's usage.
type UsageHour struct {
	Hour     time.Time // start of the UTC hour
	Messages int64
	Peak     int64 // peak concurrent connections seen by one node
}

// AddUsage adds the deltas in one transaction.
func (s *Store) AddUsage(ctx context.Context, deltas []UsageDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO usage (app_id, hour, messages, peak_connections)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (app_id, hour) DO UPDATE SET
				messages = usage.messages + excluded.messages,
				peak_connections = CASE WHEN excluded.peak_connections > usage.peak_connections
					THEN excluded.peak_connections ELSE usage.peak_connections END`))
		if err != nil {
			return fmt.Errorf("store: add usage: %w", err)
		}
		defer stmt.Close()
		for _, d := range deltas {
			if _, err := stmt.ExecContext(ctx, d.AppID, d.Hour.Unix(), d.Messages, d.Peak); err != nil {
				return fmt.Errorf("store: add usage: %w", err)
			}
		}
		return nil
	})
}

// UsageTotal is an app's usage over several hours.
type UsageTotal struct {
	Messages int64 // sum over the hours, all nodes
	Peak     int64 // largest hourly peak
}

// UsageTotals returns, per app with traffic, its usage since since.
func (s *Store) UsageTotals(ctx context.Context, since time.Time) (map[string]UsageTotal, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT app_id, SUM(messages), MAX(peak_connections) FROM usage
		WHERE hour >= ? GROUP BY app_id`), since.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: usage totals: %w", err)
	}
	defer rows.Close()
	out := map[string]UsageTotal{}
	for rows.Next() {
		var id string
		var t UsageTotal
		if err := rows.Scan(&id, &t.Messages, &t.Peak); err != nil {
			return nil, fmt.Errorf("store: usage totals: %w", err)
		}
		out[id] = t
	}
	return out, rows.Err()
}

// Usage returns an app's hours from since on, oldest first. Hours without
// traffic are missing.
func (s *Store) Usage(ctx context.Context, appID string, since time.Time) ([]UsageHour, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT hour, messages, peak_connections FROM usage
		WHERE app_id = ? AND hour >= ? ORDER BY hour`), appID, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	defer rows.Close()
	var out []UsageHour
	for rows.Next() {
		var h UsageHour
		var unix int64
		if err := rows.Scan(&unix, &h.Messages, &h.Peak); err != nil {
			return nil, fmt.Errorf("store: usage: %w", err)
		}
		h.Hour = time.Unix(unix, 0).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// PruneUsage deletes the hours before before.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM usage WHERE hour < ?`), before.Unix()); err != nil {
		return fmt.Errorf("store: prune usage: %w", err)
	}
	return nil
}
