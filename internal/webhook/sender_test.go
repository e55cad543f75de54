package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// env is a Sender on a real SQLite outbox with apps in a registry.
type env struct {
	*webhook.Sender
	out  *webhook.SQLite
	reg  *apps.Registry
	path string
}

// fast shrinks every timing so tests run in milliseconds.
func fast(o webhook.Options) webhook.Options {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&o.BatchInterval, 20*time.Millisecond)
	def(&o.VacateDelay, -1)
	def(&o.Timeout, 2*time.Second)
	def(&o.RetryHorizon, 10*time.Second)
	def(&o.BackoffBase, 20*time.Millisecond)
	def(&o.BackoffMax, 100*time.Millisecond)
	def(&o.PollInterval, 50*time.Millisecond)
	def(&o.FlushTimeout, time.Second)
	def(&o.StatsInterval, -1)
	return o
}

func logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PIXIU_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// start runs a Sender for list, on the outbox at path ("" = a new one).
func start(t *testing.T, path string, opts webhook.Options, list ...*apps.App) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "pixiu.db")
	}
	out, err := webhook.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{out: out, reg: apps.NewRegistry(list), path: path}
	opts.Apps, opts.Outbox = e.reg, out
	e.Sender, err = webhook.New(fast(opts), logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); out.Close() })
	return e
}

func app(id string, hooks ...apps.Webhook) *apps.App {
	return &apps.App{ID: id, Key: id + "-key", Secret: id + "-secret", Settings: apps.Settings{Enabled: true, Webhooks: hooks}}
}

func occupied(appID, ch string) hub.Event {
	return hub.Event{Kind: hub.ChannelOccupied, AppID: appID, Channel: ch}
}

func vacated(appID, ch string) hub.Event {
	return hub.Event{Kind: hub.ChannelVacated, AppID: appID, Channel: ch}
}

// checkSigned fails unless every request carries the headers of protocol.md
// §7.1 with a valid signature for its app.
func checkSigned(t *testing.T, reqs []pixiutest.Webhook, list ...*apps.App) {
	t.Helper()
	for _, r := range reqs {
		key := r.Header.Get(webhook.HeaderKey)
		i := slices.IndexFunc(list, func(a *apps.App) bool { return a.Key == key })
		if i < 0 {
			t.Fatalf("X-Pusher-Key %q is no app's key", key)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q, want exactly application/json", ct)
		}
		if !signature.VerifyWebhook(list[i].Secret, r.Body, r.Header.Get(webhook.HeaderSignature)) {
			t.Fatalf("bad signature %q for %s", r.Header.Get(webhook.HeaderSignature), r.Body)
		}
		if r.Header.Get(webhook.HeaderID) == "" {
			t.Fatal("no " + webhook.HeaderID)
		}
	}
}

func channels(evs []pixiutest.WebhookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name+":"+e.Channel)
	}
	return out
}

func count(n int) func([]pixiutest.WebhookEvent) error {
	return func(evs []pixiutest.WebhookEvent) error {
		if len(evs) < n {
			return fmt.Errorf("%d events, want %d", len(evs), n)
		}
		return nil
	}
}

func TestBatchingNeverMixesApps(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a, b := app("a", apps.Webhook{URL: rcv.URL}), app("b", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{BatchMax: 10, BatchInterval: 200 * time.Millisecond}, a, b)
	const n = 100
	for i := range n {
		e.Observe(occupied("a", fmt.Sprintf("a-%03d", i)))
		e.Observe(occupied("b", fmt.Sprintf("b-%03d", i)))
	}
	evs := rcv.WaitEvents(t, count(2*n))
	reqs := rcv.Delivered()
	if len(reqs) > 2*n/10+2 || len(reqs) < 2*n/10 {
		t.Fatalf("%d requests for %d events with batch_max 10", len(reqs), 2*n)
	}
	checkSigned(t, reqs, a, b)
	for _, r := range reqs {
		prefix := strings.TrimSuffix(r.Header.Get(webhook.HeaderKey), "-key") + "-"
		if len(r.Events) > 10 {
			t.Fatalf("%d events in one request", len(r.Events))
		}
		for _, ev := range r.Events {
			if !strings.HasPrefix(ev.Channel, prefix) {
				t.Fatalf("request for %s carries %s", prefix, ev.Channel)
			}
		}
	}
	var got []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Channel, "a-") {
			got = append(got, ev.Channel)
		}
	}
	if !slices.IsSorted(got) || len(got) != n {
		t.Fatalf("app a's events out of order or missing: %v", got)
	}
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if st := e.Stats(); st.SentEvents != 2*n || st.Queued != 2*n || st.Sent != int64(len(reqs)) {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// An event on a private-encrypted-* channel travels alone: pusher-http-go's
// Webhook rejects a whole body when one such event has no data to decrypt.
func TestEncryptedChannelEventsAreNotBatched(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{BatchMax: 10, BatchInterval: 200 * time.Millisecond}, a)
	order := []hub.Event{
		occupied("a", "one"),
		occupied("a", "two"),
		occupied("a", "private-encrypted-x"),
		{Kind: hub.MemberAdded, AppID: "a", Channel: "presence-encrypted-is-not", UserID: "u"},
		occupied("a", "private-encrypted-cache-y"),
		vacated("a", "private-encrypted-x"),
		occupied("a", "three"),
		occupied("a", "private-x"),
	}
	for _, ev := range order {
		e.Observe(ev)
	}
	evs := rcv.WaitEvents(t, count(len(order)))
	checkSigned(t, rcv.Delivered(), a)
	want := []string{
		"channel_occupied:one", "channel_occupied:two", "channel_occupied:private-encrypted-x",
		"member_added:presence-encrypted-is-not", "channel_occupied:private-encrypted-cache-y",
		"channel_vacated:private-encrypted-x", "channel_occupied:three", "channel_occupied:private-x",
	}
	if got := channels(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	var sizes []int
	for _, r := range rcv.Delivered() {
		n := len(r.Events)
		for _, ev := range r.Events {
			if strings.HasPrefix(ev.Channel, "private-encrypted-") && n != 1 {
				t.Fatalf("%s shares a request with %d other events", ev.Channel, n-1)
			}
		}
		sizes = append(sizes, n)
	}
	if !slices.Equal(sizes, []int{2, 1, 1, 1, 1, 2}) {
		t.Fatalf("request sizes %v, want [2 1 1 1 1 2]", sizes)
	}
}

func TestEndpointFiltersAndHeaders(t *testing.T) {
	t.Parallel()
	all, occ, priv := pixiutest.NewReceiver(t), pixiutest.NewReceiver(t), pixiutest.NewReceiver(t)
	a := app("a",
		apps.Webhook{URL: all.URL, Headers: map[string]string{"Authorization": "Bearer t0ken", "X-Extra": "1"}},
		apps.Webhook{URL: occ.URL, Events: []string{"channel_occupied"}},
		apps.Webhook{URL: priv.URL, ChannelPrefix: "private-", Events: []string{"channel_occupied", "client_event"}},
	)
	e := start(t, "", webhook.Options{}, a)
	e.Observe(occupied("a", "pub"))
	e.Observe(occupied("a", "private-x"))
	e.Observe(hub.Event{Kind: hub.ClientEvent, AppID: "a", Channel: "private-x", Event: "client-e", Data: "{}", SocketID: "1.1"})
	e.Observe(hub.Event{Kind: hub.SubscriptionCount, AppID: "a", Channel: "pub", Count: 2})
	e.Observe(vacated("a", "private-x"))
	e.Observe(vacated("a", "pub"))
	all.WaitEvents(t, count(6))
	occ.WaitEvents(t, count(2))
	priv.WaitEvents(t, count(2))
	// Give stragglers a chance: the filtered receivers must stay as they are.
	e.Observe(occupied("a", "private-sentinel"))
	all.WaitEvents(t, count(7))
	priv.WaitEvents(t, count(3))
	if got := channels(occ.Events()); !slices.Equal(got, []string{"channel_occupied:pub", "channel_occupied:private-x", "channel_occupied:private-sentinel"}) {
		t.Fatalf("occupied-only endpoint got %v", got)
	}
	if got := channels(priv.Events()); !slices.Equal(got, []string{"channel_occupied:private-x", "client_event:private-x", "channel_occupied:private-sentinel"}) {
		t.Fatalf("private- endpoint got %v", got)
	}
	for _, r := range all.Delivered() {
		if r.Header.Get("Authorization") != "Bearer t0ken" || r.Header.Get("X-Extra") != "1" {
			t.Fatalf("extra headers missing: %v", r.Header)
		}
	}
	for _, r := range occ.Delivered() {
		if r.Header.Get("Authorization") != "" {
			t.Fatal("another endpoint's header leaked")
		}
	}
	checkSigned(t, append(append(all.Requests(), occ.Requests()...), priv.Requests()...), a)
}

func TestVacateHold(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: rcv.URL})
	const delay = 300 * time.Millisecond
	e := start(t, "", webhook.Options{VacateDelay: delay}, a)
	member := func(k hub.EventKind, user string) hub.Event {
		return hub.Event{Kind: k, AppID: "a", Channel: "presence-r", UserID: user}
	}
	e.Observe(occupied("a", "presence-r"))
	e.Observe(member(hub.MemberAdded, "u1"))
	// u1 drops and comes back within the window: nothing is sent.
	e.Observe(member(hub.MemberRemoved, "u1"))
	e.Observe(vacated("a", "presence-r"))
	e.Observe(occupied("a", "presence-r"))
	e.Observe(member(hub.MemberAdded, "u1"))
	// A sentinel on another channel proves the quiet period.
	time.Sleep(delay + 100*time.Millisecond) // the assertion is that nothing happens in the window
	e.Observe(occupied("a", "sentinel"))
	rcv.WaitEvents(t, count(3))
	want := []string{"channel_occupied:presence-r", "member_added:presence-r", "channel_occupied:sentinel"}
	if got := channels(rcv.Events()); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Leaving for good: both are delivered, no earlier than the delay.
	left := time.Now()
	e.Observe(member(hub.MemberRemoved, "u1"))
	e.Observe(vacated("a", "presence-r"))
	evs := rcv.WaitEvents(t, count(5))
	if since := time.Since(left); since < delay {
		t.Fatalf("vacate delivered after %v, before the %v hold", since, delay)
	}
	want = append(want, "member_removed:presence-r", "channel_vacated:presence-r")
	if got := channels(evs); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := e.Stats(); st.Suppressed != 2 {
		t.Fatalf("suppressed %d, want 2", st.Suppressed)
	}
}

func TestRetryKeepsIDAndOrder(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(3)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{BatchMax: 1}, a)
	for i := range 5 {
		e.Observe(occupied("a", fmt.Sprintf("c%d", i)))
	}
	evs := rcv.WaitEvents(t, count(5))
	if got := channels(evs); !slices.IsSorted(got) || len(got) != 5 {
		t.Fatalf("delivery order %v: a retried batch was overtaken", got)
	}
	reqs := rcv.Requests()
	first := reqs[0].Header.Get(webhook.HeaderID)
	for i := range 4 { // three failures, then the same batch succeeds
		if id := reqs[i].Header.Get(webhook.HeaderID); id != first || string(reqs[i].Body) != string(reqs[0].Body) {
			t.Fatalf("attempt %d: id %s body %s; want the same batch %s", i, id, reqs[i].Body, first)
		}
	}
	checkSigned(t, reqs, a)
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if st := e.Stats(); st.Failed != 3 || st.Retried != 3 || st.Sent != 5 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(1 << 30)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{RetryHorizon: 300 * time.Millisecond}, a)
	e.Observe(occupied("a", "c1"))
	ctx := context.Background()
	var dead []*webhook.Batch
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		var err error
		if dead, err = e.DeadLetters(ctx, webhook.Filter{}); err != nil || len(dead) != 1 {
			return fmt.Errorf("%d dead letters (%v)", len(dead), err)
		}
		return nil
	})
	d := dead[0]
	if d.AppID != "a" || d.URL != rcv.URL || d.Events != 1 || d.Attempts < 2 || !strings.Contains(d.LastError, "500") {
		t.Fatalf("dead letter %+v", d)
	}
	if st := e.Stats(); st.DeadLettered != 1 {
		t.Fatalf("stats %+v", st)
	}
	attempts := len(rcv.Requests())
	rcv.Fail(0)
	if n, err := e.Replay(ctx, webhook.Filter{IDs: []string{"nope"}}); n != 0 || err != nil {
		t.Fatalf("replay of an unknown id: %d %v", n, err)
	}
	if n, err := e.Replay(ctx, webhook.Filter{IDs: []string{d.ID}}); n != 1 || err != nil {
		t.Fatalf("replay: %d %v", n, err)
	}
	rcv.WaitEvents(t, count(1))
	got := rcv.Delivered()[0]
	if got.Header.Get(webhook.HeaderID) != d.ID || string(got.Body) != string(d.Body) {
		t.Fatalf("replayed request differs: %s %s", got.Header.Get(webhook.HeaderID), got.Body)
	}
	if len(rcv.Requests()) != attempts+1 {
		t.Fatalf("%d requests after replay, want %d", len(rcv.Requests()), attempts+1)
	}
	if dead, _ := e.DeadLetters(ctx, webhook.Filter{}); len(dead) != 0 {
		t.Fatalf("still %d dead letters", len(dead))
	}
}

// TestDeadEndpointDoesNotBlockOthers: a hanging endpoint holds one request;
// another app's endpoint and the same app's other endpoint keep flowing,
// and Observe never waits.
func TestDeadEndpointDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	ok1, ok2 := pixiutest.NewReceiver(t), pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: hang.URL}, apps.Webhook{URL: ok1.URL})
	b := app("b", apps.Webhook{URL: ok2.URL})
	e := start(t, "", webhook.Options{Timeout: 30 * time.Second, Concurrency: 2}, a, b)
	t.Cleanup(func() { close(release) }) // before the sender's Close, which would wait for it
	for i := range 50 {
		e.Observe(occupied("a", fmt.Sprintf("a%d", i)))
		e.Observe(occupied("b", fmt.Sprintf("b%d", i)))
	}
	ok1.WaitEvents(t, count(50))
	ok2.WaitEvents(t, count(50))
}

// blockingOutbox stalls Append until released, to fill the queue.
type blockingOutbox struct {
	webhook.Outbox
	gate chan struct{}
}

func (b *blockingOutbox) Append(ctx context.Context, e []*webhook.Entry) error {
	<-b.gate
	return b.Outbox.Append(ctx, e)
}

func TestObserveNeverBlocksAndSpills(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: rcv.URL})
	out, err := webhook.OpenSQLite(filepath.Join(t.TempDir(), "pixiu.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bo := &blockingOutbox{Outbox: out, gate: make(chan struct{})}
	s, err := webhook.New(fast(webhook.Options{Apps: apps.NewRegistry([]*apps.App{a}), Outbox: bo,
		QueueSize: 8, SpillMax: 100}), logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); out.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			s.Observe(occupied("a", fmt.Sprintf("c%03d", i)))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked while the outbox was stuck")
	}
	close(bo.gate)
	st := s.Stats()
	if st.Spilled == 0 || st.Dropped == 0 {
		t.Fatalf("stats %+v: want spilled and dropped events", st)
	}
	kept := 500 - int(st.Dropped)
	evs := rcv.WaitEvents(t, count(kept))
	if len(evs) != kept {
		t.Fatalf("%d delivered, want %d (500 - %d dropped)", len(evs), kept, st.Dropped)
	}
	if got := channels(evs); !slices.IsSorted(got) {
		t.Fatalf("spilled events out of order: %v", got)
	}
}

// TestResumesFromOutbox: entries stored but not sealed and batches sealed
// but not delivered by a previous run are all delivered by the next one.
func TestResumesFromOutbox(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: rcv.URL})
	path := filepath.Join(t.TempDir(), "pixiu.db")
	out, err := webhook.OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	b := &webhook.Batch{ID: "sealed-1", AppID: "a", URL: rcv.URL, Events: 1, Created: now, NextAt: now.Add(time.Hour),
		Body: []byte(`{"time_ms":1,"events":[{"name":"channel_occupied","channel":"c0"}]}`)}
	if err := out.Seal(ctx, []*webhook.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	var entries []*webhook.Entry
	for i := 1; i <= 3; i++ {
		entries = append(entries, &webhook.Entry{AppID: "a", URL: rcv.URL, Group: "a\n" + rcv.URL + "\n\n", Time: now,
			Event: fmt.Appendf(nil, `{"name":"channel_occupied","channel":"c%d"}`, i)})
	}
	if err := out.Append(ctx, entries); err != nil {
		t.Fatal(err)
	}
	out.Close()
	start(t, path, webhook.Options{}, a)
	evs := rcv.WaitEvents(t, count(4))
	if got := channels(evs); !slices.Equal(got, []string{"channel_occupied:c0", "channel_occupied:c1", "channel_occupied:c2", "channel_occupied:c3"}) {
		t.Fatalf("got %v", got)
	}
	checkSigned(t, rcv.Requests(), a)
}

func TestCacheMissDeduplicated(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{BatchInterval: 200 * time.Millisecond}, a)
	for i := range 5 {
		e.Observe(hub.Event{Kind: hub.CacheMiss, AppID: "a", Channel: "cache-x", SocketID: fmt.Sprint(i)})
	}
	e.Observe(hub.Event{Kind: hub.CacheMiss, AppID: "a", Channel: "cache-y"})
	e.Observe(occupied("a", "sentinel"))
	evs := rcv.WaitEvents(t, count(3))
	if got := channels(evs); !slices.Equal(got, []string{"cache_miss:cache-x", "cache_miss:cache-y", "channel_occupied:sentinel"}) {
		t.Fatalf("got %v", got)
	}
}

func TestUnknownEndpointIsDeadLettered(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(1 << 30)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{}, a)
	e.Observe(occupied("a", "c"))
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if len(rcv.Requests()) == 0 {
			return fmt.Errorf("no attempt yet")
		}
		return nil
	})
	e.reg.Replace([]*apps.App{app("a")}) // the endpoint is removed
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		dead, err := e.DeadLetters(context.Background(), webhook.Filter{AppID: "a"})
		if err != nil || len(dead) != 1 || !strings.Contains(dead[0].LastError, "no longer configured") {
			return fmt.Errorf("dead letters %v %v", dead, err)
		}
		return nil
	})
}

// TestReplayFromAnotherProcess: a replay written to the outbox file by
// another process (pixiu webhooks replay) is picked up by the running sender.
func TestReplayFromAnotherProcess(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(1 << 30)
	a := app("a", apps.Webhook{URL: rcv.URL})
	e := start(t, "", webhook.Options{RetryHorizon: 200 * time.Millisecond}, a)
	e.Observe(occupied("a", "c1"))
	e.Observe(occupied("a", "c2"))
	ctx := context.Background()
	other, err := webhook.OpenSQLite(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		n, err := other.Counts(ctx)
		if err != nil || n.Dead != 1 || n.Pending != 0 || n.Unsealed != 0 {
			return fmt.Errorf("counts %+v %v", n, err)
		}
		return nil
	})
	rcv.Fail(0)
	if n, err := other.Replay(ctx, webhook.Filter{AppID: "a"}); n != 1 || err != nil {
		t.Fatalf("replay: %d %v", n, err)
	}
	rcv.WaitEvents(t, count(2))
	if got := channels(rcv.Events()); !slices.Equal(got, []string{"channel_occupied:c1", "channel_occupied:c2"}) {
		t.Fatalf("got %v", got)
	}
}
