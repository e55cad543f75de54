package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// outboxFull is the index of reason outbox_full in Stats.DroppedBy.
func outboxFull(t *testing.T) int {
	t.Helper()
	i := slices.Index(webhook.DropReasons(), "outbox_full")
	if i < 0 {
		t.Fatal("no outbox_full drop reason")
	}
	return i
}

// TestOutboxCap: with the receiver down, the outbox holds at most
// MaxOutboxEvents; the rest is dropped, counted under outbox_full and
// logged once (not per event, not per burst). Once the receiver is back
// the kept events are delivered and new ones are taken again.
func TestOutboxCap(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(1 << 30)
	a := app("a", apps.Webhook{URL: rcv.URL})
	var logs pixiutest.SyncBuffer
	path := filepath.Join(t.TempDir(), "pixiu.db")
	out, err := webhook.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.New(fast(webhook.Options{Apps: apps.NewRegistry([]*apps.App{a}), Outbox: out,
		MaxOutboxEvents: 10, BatchMax: 5, RetryHorizon: time.Hour, BackoffBase: 50 * time.Millisecond}),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); out.Close() })
	full := outboxFull(t)
	for burst := range 3 {
		for i := range 10 {
			s.Observe(occupied("a", fmt.Sprintf("b%d-%02d", burst, i)))
		}
		pixiutest.WaitFor(t, 5*time.Second, func() error {
			st := s.Stats()
			if st.Queued+st.DroppedBy[full] != int64(10*(burst+1)) {
				return fmt.Errorf("stats %+v", st)
			}
			return nil
		})
	}
	ctx := context.Background()
	if n, err := out.Size(ctx); err != nil || n != 10 {
		t.Fatalf("outbox holds %d events (%v), want the cap of 10", n, err)
	}
	if st := s.Stats(); st.DroppedBy[full] != 20 || st.Dropped != 20 || st.OutboxEvents != 10 {
		t.Fatalf("stats %+v: want 20 dropped as outbox_full, 10 in the outbox", st)
	}
	if n := strings.Count(logs.String(), "webhook events dropped"); n != 1 || !strings.Contains(logs.String(), "reason=outbox_full") {
		t.Fatalf("%d drop log lines, want 1 with reason=outbox_full:\n%s", n, logs.String())
	}
	rcv.Fail(0)
	evs := rcv.WaitEvents(t, count(10))
	for i, ch := range channels(evs[:10]) {
		if want := fmt.Sprintf("channel_occupied:b0-%02d", i); ch != want {
			t.Fatalf("delivered %v: want the first burst in order (the oldest events keep their place)", channels(evs))
		}
	}
	s.Observe(occupied("a", "after"))
	evs = rcv.WaitEvents(t, count(11))
	if last := evs[len(evs)-1].Channel; last != "after" {
		t.Fatalf("last delivered %q: the outbox did not take new events once drained", last)
	}
}

// TestDeadLettersPruned: dead letters older than the retention are deleted
// by the running sender; younger ones and pending batches stay.
func TestDeadLettersPruned(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	out, err := webhook.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	var batches []*webhook.Batch
	for _, id := range []string{"old", "young"} {
		batches = append(batches, &webhook.Batch{ID: id, AppID: "a", URL: "http://127.0.0.1:9/hook", Events: 1,
			Created: now, NextAt: now, Body: []byte(`{"time_ms":1,"events":[]}`)})
	}
	if err := out.Seal(ctx, batches, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old", "young"} {
		if err := out.Settle(ctx, id, webhook.Result{State: webhook.Dead, Attempts: 3, Err: "status 500"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := webhook.AgeDeadLetter(out, "old", 8*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	out.Close()
	e := start(t, path, webhook.Options{JanitorInterval: 20 * time.Millisecond}, app("a")) // default retention: 7 days
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		dead, err := e.DeadLetters(ctx, webhook.Filter{})
		if err != nil || len(dead) != 1 || dead[0].ID != "young" {
			return fmt.Errorf("dead letters %v (%v), want only the young one", dead, err)
		}
		return nil
	})
	if st := e.Stats(); st.Pruned != 1 {
		t.Fatalf("pruned %d, want 1", st.Pruned)
	}
	// Purge by age and by app, as `pixiu webhooks purge` does.
	if n, err := e.Purge(ctx, webhook.Filter{DeadBefore: time.Now().Add(-time.Hour)}); n != 0 || err != nil {
		t.Fatalf("purge older than 1h: %d %v", n, err)
	}
	if n, err := e.Purge(ctx, webhook.Filter{AppID: "b"}); n != 0 || err != nil {
		t.Fatalf("purge of another app: %d %v", n, err)
	}
	if n, err := e.Purge(ctx, webhook.Filter{AppID: "a"}); n != 1 || err != nil {
		t.Fatalf("purge of app a: %d %v", n, err)
	}
}

// failCounter counts failed appends.
type failCounter struct {
	webhook.Outbox
	failed atomic.Int64
}

func (f *failCounter) Append(ctx context.Context, e []*webhook.Entry) error {
	err := f.Outbox.Append(ctx, e)
	if err != nil {
		f.failed.Add(1)
	}
	return err
}

// TestFullDiskLoggedOncePerMinute: while the database cannot grow
// (SQLITE_FULL, as on a full disk) and the receiver is down, writes to the
// outbox fail; Observe keeps returning at once, the failures are logged once
// (not per event or per retry), and once space is back and the receiver up,
// every event kept in memory is delivered.
func TestFullDiskLoggedOncePerMinute(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(1 << 30) // nothing leaves the outbox: it must grow
	a := app("a", apps.Webhook{URL: rcv.URL})
	out, err := webhook.OpenSQLite(filepath.Join(t.TempDir(), "pixiu.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.FreezeSize(out, true); err != nil {
		t.Fatal(err)
	}
	fc := &failCounter{Outbox: out}
	var logs pixiutest.SyncBuffer
	s, err := webhook.New(fast(webhook.Options{Apps: apps.NewRegistry([]*apps.App{a}), Outbox: fc,
		RetryHorizon: time.Hour}),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); out.Close() })
	i := 0
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		for range 2 {
			done := make(chan struct{})
			go func() { s.Observe(occupied("a", fmt.Sprintf("c%04d", i))); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Observe blocked on a full disk")
			}
			i++
		}
		if n := fc.failed.Load(); n < 3 || !strings.Contains(logs.String(), "level=ERROR") {
			return fmt.Errorf("%d failed appends, logs:\n%s", n, logs.String())
		}
		return nil
	})
	text := logs.String()
	if n := strings.Count(text, "level=ERROR"); n != 1 || !strings.Contains(text, "full") {
		t.Fatalf("%d error lines after %d failed appends, want 1 naming the full database:\n%s", n, fc.failed.Load(), text)
	}
	if err := webhook.FreezeSize(out, false); err != nil {
		t.Fatal(err)
	}
	rcv.Fail(0)
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if n := len(rcv.Events()); n != i {
			return fmt.Errorf("%d of %d events delivered; stats %+v", n, i, s.Stats())
		}
		return nil
	})
}

// TestOutboxFilePrivate: `pixiu webhooks …` may be the first to create the
// store file; it is private like the store's (0600 in a 0700 directory).
func TestOutboxFilePrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "pixiu.db")
	out, err := webhook.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Append(context.Background(), []*webhook.Entry{{AppID: "a", URL: "http://127.0.0.1:9/", Group: "g",
		Time: time.Now(), Event: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}
