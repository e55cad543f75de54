package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// opener opens a store; calling it twice in one test opens two handles on the
// same database (as two processes would).
type opener func(t *testing.T, opts Options) *Store

// engines returns one opener factory per engine. Every test of the suite runs
// against each: SQLite in a temporary directory and the real PostgreSQL
// (PIXIU_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432/test) in
// a schema of its own. An unreachable PostgreSQL fails the test: never skip.
var engines = map[string]func(t *testing.T) opener{
	"sqlite": func(t *testing.T) opener {
		path := filepath.Join(t.TempDir(), "sub", "pixiu.db")
		return func(t *testing.T, opts Options) *Store {
			opts.Path = path
			return mustOpen(t, opts)
		}
	},
	"postgres": func(t *testing.T) opener {
		dsn := postgresSchema(t)
		return func(t *testing.T, opts Options) *Store {
			opts.DSN = dsn
			return mustOpen(t, opts)
		}
	},
}

func mustOpen(t *testing.T, opts Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// postgresSchema creates a unique schema, drops it when the test ends and
// returns a DSN whose search_path points at it.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PIXIU_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres %s: %v", base, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL is required for the store suite and is unreachable at %s "+
			"(start it, or set PIXIU_TEST_POSTGRES): %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pixiu_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	return base + "&search_path=" + schema
}

// run runs body as a parallel subtest per engine.
func run(t *testing.T, body func(t *testing.T, open opener)) {
	t.Helper()
	t.Parallel()
	for name, factory := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body(t, factory(t))
		})
	}
}

// settings returns the default settings named name, edited by edit.
func settings(name string, edit ...func(*apps.Settings)) apps.Settings {
	st := apps.Defaults()
	st.Name = name
	for _, e := range edit {
		e(&st)
	}
	return st
}

var (
	reID  = regexp.MustCompile(`^[1-9][0-9]{6}$`)
	reHex = regexp.MustCompile(`^[0-9a-f]{20}$`)
)

func TestCreateAndRead(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		a, err := s.CreateApp(ctx, settings("  Chat  ", func(st *apps.Settings) { st.ClientEvents = true }))
		if err != nil {
			t.Fatal(err)
		}
		if !reID.MatchString(a.ID) || !reHex.MatchString(a.Key) || !reHex.MatchString(a.Secret) || a.Key == a.Secret {
			t.Fatalf("generated credentials %q %q %q", a.ID, a.Key, a.Secret)
		}
		want := apps.App{ID: a.ID, Key: a.Key, Secret: a.Secret, Settings: apps.Settings{Name: "Chat", Enabled: true,
			ClientEvents: true, MaxPresenceMembers: 100, MaxClientEventsPerSecond: 10, History: apps.Defaults().History}}
		got, err := s.App(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !equalApps(got, &want) {
			t.Fatalf("read back %+v, want %+v", got, want)
		}
		b, err := s.CreateApp(ctx, settings("Second"))
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID > list[1].ID || (list[0].ID != a.ID && list[0].ID != b.ID) {
			t.Fatalf("list = %+v", list)
		}
		if _, err := s.App(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown app: %v", err)
		}
	})
}

func equalApps(a, b *apps.App) bool {
	return reflect.DeepEqual(a, b)
}

func TestInvalidSettingsChangeNothing(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		_, err := s.CreateApp(ctx, settings("", func(st *apps.Settings) { st.MaxConnections = -1 }))
		var fe apps.FieldErrors
		if !errors.As(err, &fe) || fe["name"] == "" || fe["max_connections"] == "" {
			t.Fatalf("create without name: %v", err)
		}
		a, err := s.CreateApp(ctx, settings("ok"))
		if err != nil {
			t.Fatal(err)
		}
		v0, _ := s.Version(ctx)
		_, err = s.UpdateApp(ctx, a.ID, func(st *apps.Settings) error {
			st.Name, st.MaxPresenceMembers, st.DailyMessageQuota = "renamed", 0, -5
			st.Webhooks = []apps.Webhook{{URL: "ftp://x", Events: []string{"nope"}}}
			return nil
		})
		if !errors.As(err, &fe) {
			t.Fatalf("update: %v", err)
		}
		for _, f := range []string{"max_presence_members", "daily_message_quota", "webhooks[0].url", "webhooks[0].events"} {
			if fe[f] == "" {
				t.Errorf("no error for %s in %v", f, fe)
			}
		}
		got, _ := s.App(ctx, a.ID)
		if got.Name != "ok" {
			t.Fatalf("invalid update changed the app: %+v", got)
		}
		if v1, _ := s.Version(ctx); v1 != v0 {
			t.Fatalf("version moved %d → %d on a failed update", v0, v1)
		}
	})
}

func TestUpdateRotateDelete(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		a, _ := s.CreateApp(ctx, settings("app"))
		v0, _ := s.Version(ctx)
		hooks := []apps.Webhook{{URL: "https://example.com/hook", Events: []string{"channel_occupied"},
			ChannelPrefix: "private-", Headers: map[string]string{"X-Token": "t"}}}
		u, err := s.UpdateApp(ctx, a.ID, func(st *apps.Settings) error {
			st.Enabled, st.DailyMessageQuota, st.MaxConnections, st.Webhooks = false, 200000, 100, hooks
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.App(ctx, a.ID)
		if got.Enabled || got.DailyMessageQuota != 200000 || got.MaxConnections != 100 || got.Name != "app" ||
			got.Secret != a.Secret || len(got.Webhooks) != 1 || got.Webhooks[0].Headers["X-Token"] != "t" ||
			got.Webhooks[0].ChannelPrefix != "private-" || !equalApps(got, u) {
			t.Fatalf("after update: %+v", got)
		}
		r, err := s.RotateSecret(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Secret == a.Secret || !reHex.MatchString(r.Secret) || r.Key != a.Key {
			t.Fatalf("rotate: %+v", r)
		}
		if got, _ := s.App(ctx, a.ID); got.Secret != r.Secret {
			t.Fatal("rotated secret not stored")
		}
		if err := s.AddUsage(ctx, []UsageDelta{{AppID: a.ID, Hour: hour(0), Messages: 3}}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.App(ctx, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted app: %v", err)
		}
		if h, _ := s.Usage(ctx, a.ID, hour(-100)); len(h) != 0 {
			t.Fatalf("usage kept after delete: %+v", h)
		}
		if err := s.DeleteApp(ctx, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s.UpdateApp(ctx, a.ID, func(*apps.Settings) error { return nil }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update deleted: %v", err)
		}
		if v1, _ := s.Version(ctx); v1 != v0+3 {
			t.Fatalf("version %d → %d, want +3 (update, rotate, delete)", v0, v1)
		}
	})
}

func TestReservedCredentialsAreAvoided(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		var calls atomic.Int32
		s := open(t, Options{Reserved: func(id, key string) bool { return calls.Add(1) <= 3 }})
		if _, err := s.CreateApp(context.Background(), settings("x")); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 4 {
			t.Fatalf("reserved consulted %d times, want 4", calls.Load())
		}
	})
}

// TestTwoHandles plays the CLI beside a running server: changes made through
// one handle are seen by the other, and concurrent writers do not fail.
func TestTwoHandles(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		server, cli := open(t, Options{}), open(t, Options{})
		v0, err := server.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := []*Store{server, cli}[i%2]
				_, err := st.CreateApp(ctx, settings("concurrent"))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		v1, _ := server.Version(ctx)
		list, _ := server.Apps(ctx)
		if v1 != v0+20 || len(list) != 20 {
			t.Fatalf("version %d → %d, %d apps; want +20 and 20", v0, v1, len(list))
		}
	})
}

func hour(n int) time.Time {
	return time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
}

func TestUsage(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := open(t, Options{})
		err := s.AddUsage(ctx, []UsageDelta{
			{AppID: "a", Hour: hour(-1), Messages: 5, Peak: 2},
			{AppID: "a", Hour: hour(0), Messages: 10, Peak: 7},
			{AppID: "b", Hour: hour(0), Messages: 1, Peak: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		// A second node adds to the same hour: messages add up, the peak is the largest.
		if err := s.AddUsage(ctx, []UsageDelta{{AppID: "a", Hour: hour(0), Messages: 4, Peak: 3}}); err != nil {
			t.Fatal(err)
		}
		h, err := s.Usage(ctx, "a", hour(-5))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2 || !h[0].Hour.Equal(hour(-1)) || h[1].Messages != 14 || h[1].Peak != 7 {
			t.Fatalf("usage = %+v", h)
		}
		tot, err := s.UsageTotals(ctx, hour(0))
		if err != nil {
			t.Fatal(err)
		}
		if tot["a"] != (UsageTotal{14, 7}) || tot["b"] != (UsageTotal{1, 1}) || len(tot) != 2 {
			t.Fatalf("totals = %v", tot)
		}
		if err := s.PruneUsage(ctx, hour(0)); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.Usage(ctx, "a", hour(-5)); len(h) != 1 {
			t.Fatalf("after prune: %+v", h)
		}
	})
}

func TestMeta(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		a, b := open(t, Options{}), open(t, Options{})
		v, won, err := a.PutMetaIfAbsent(ctx, "k", "first")
		if err != nil || !won || v != "first" {
			t.Fatalf("first put: %q %v %v", v, won, err)
		}
		v, won, err = b.PutMetaIfAbsent(ctx, "k", "second")
		if err != nil || won || v != "first" {
			t.Fatalf("second put: %q %v %v", v, won, err)
		}
		if err := b.PutMeta(ctx, "k", "third"); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := a.Meta(ctx, "k"); !ok || v != "third" {
			t.Fatalf("meta = %q %v", v, ok)
		}
		if _, ok, _ := a.Meta(ctx, "missing"); ok {
			t.Fatal("missing meta found")
		}
	})
}
