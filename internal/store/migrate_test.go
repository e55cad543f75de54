package store

import (
	"context"
	"slices"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// TestOlderStoreGainsAllowedOrigins opens a store whose apps table predates
// allowed_origins: the column is added, old rows read as "any origin", and
// the setting round-trips.
func TestOlderStoreGainsAllowedOrigins(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		a, err := s.CreateApp(ctx, settings("Old"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `ALTER TABLE apps DROP COLUMN allowed_origins`); err != nil {
			t.Fatalf("make the table old: %v", err)
		}
		s = open(t, Options{}) // migrates
		got, err := s.App(ctx, a.ID)
		if err != nil || got.AllowedOrigins != nil {
			t.Fatalf("old row: %+v, %v; want no allowed origins", got, err)
		}
		want := []string{"https://app.example.com", "https://*.example.org"}
		if _, err := s.UpdateApp(ctx, a.ID, func(st *apps.Settings) error { st.AllowedOrigins = want; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, err := s.App(ctx, a.ID); err != nil || !slices.Equal(got.AllowedOrigins, want) {
			t.Fatalf("allowed origins %v, %v; want %v", got.AllowedOrigins, err, want)
		}
		_, err = s.UpdateApp(ctx, a.ID, func(st *apps.Settings) error { st.AllowedOrigins = []string{"example.com/x"}; return nil })
		if fe, ok := err.(apps.FieldErrors); !ok || fe["allowed_origins"] == "" {
			t.Fatalf("malformed origin: %v, want a field error on allowed_origins", err)
		}
	})
}

// TestOlderStoreGainsHistory: rows from before the history column read as
// the defaults (off), and the setting round-trips.
func TestOlderStoreGainsHistory(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		a, err := s.CreateApp(ctx, settings("Old"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `ALTER TABLE apps DROP COLUMN history`); err != nil {
			t.Fatalf("make the table old: %v", err)
		}
		s = open(t, Options{}) // migrates
		got, err := s.App(ctx, a.ID)
		if err != nil || got.History.Channels != nil || got.History.MaxEvents != apps.DefaultHistoryMaxEvents {
			t.Fatalf("old row: %+v, %v; want the default history (off)", got.History, err)
		}
		want := apps.History{Channels: []string{"price-", "*"}, MaxEvents: 50, MaxAgeSeconds: 60}
		if _, err := s.UpdateApp(ctx, a.ID, func(st *apps.Settings) error { st.History = want; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err = s.App(ctx, a.ID)
		if err != nil || !slices.Equal(got.History.Channels, want.Channels) || got.History.MaxEvents != 50 || got.History.MaxAgeSeconds != 60 {
			t.Fatalf("history %+v, %v; want %+v", got.History, err, want)
		}
	})
}
