package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// withWebhooks points the default app's webhooks at the receivers (all
// types) and shrinks the timings.
func withWebhooks(vacate time.Duration, hooks ...apps.Webhook) func(*config.Config) {
	return func(c *config.Config) {
		c.Apps[0].Webhooks = hooks
		c.Webhooks.BatchInterval = config.Duration(20 * time.Millisecond)
		c.Webhooks.VacateDelay = config.Duration(vacate)
		c.Webhooks.RetryHorizon = config.Duration(10 * time.Second)
	}
}

func unsubscribe(c *pixiutest.Client, ch string) {
	c.Send("pusher:unsubscribe", "", map[string]any{"channel": ch})
}

// checkWebhooks verifies every request as a receiver would (protocol.md §7.1).
func checkWebhooks(t *testing.T, reqs []pixiutest.Webhook, key, secret string) {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("no webhook requests")
	}
	for _, r := range reqs {
		if got := r.Header.Get("X-Pusher-Key"); got != key {
			t.Fatalf("X-Pusher-Key %q", got)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q, want exactly application/json", ct)
		}
		if !signature.VerifyWebhook(secret, r.Body, r.Header.Get("X-Pusher-Signature")) {
			t.Fatalf("bad X-Pusher-Signature for %s", r.Body)
		}
		if r.TimeMS < time.Now().Add(-time.Minute).UnixMilli() || r.TimeMS > time.Now().UnixMilli() {
			t.Fatalf("time_ms %d is not the creation time", r.TimeMS)
		}
	}
}

func has(name, channel string, n int) func([]pixiutest.WebhookEvent) error {
	return func(evs []pixiutest.WebhookEvent) error {
		if got := len(pixiutest.Find(evs, name, channel)); got < n {
			return fmt.Errorf("%d %s on %s, want %d", got, name, channel, n)
		}
		return nil
	}
}

// TestWebhookTypes drives the real server with WebSocket clients and checks
// each of the seven types (protocol.md §7.2), exactly as a receiver gets it.
func TestWebhookTypes(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	s := pixiutest.Start(t, withWebhooks(50*time.Millisecond, apps.Webhook{URL: rcv.URL}))
	a := pixiutest.Dial(t, s.Addr, "app-key")
	b := pixiutest.Dial(t, s.Addr, "app-key")

	// channel_occupied, subscription_count, channel_vacated. Counts are
	// coalesced per channel (one per 250 ms window), so each change waits
	// for its webhook before the next.
	a.Subscribe("pub", "", "", "")
	rcv.WaitEvents(t, has("subscription_count", "pub", 1))
	b.Subscribe("pub", "", "", "")
	rcv.WaitEvents(t, has("subscription_count", "pub", 2))
	unsubscribe(b, "pub")
	rcv.WaitEvents(t, has("subscription_count", "pub", 3))
	unsubscribe(a, "pub")
	evs := rcv.WaitEvents(t, has("channel_vacated", "pub", 1))
	want := []string{`{"name":"channel_occupied","channel":"pub"}`,
		`{"name":"subscription_count","channel":"pub","subscription_count":1}`,
		`{"name":"subscription_count","channel":"pub","subscription_count":2}`,
		`{"name":"subscription_count","channel":"pub","subscription_count":1}`,
		`{"name":"channel_vacated","channel":"pub"}`}
	var got []string
	for _, e := range evs {
		if e.Channel == "pub" {
			got = append(got, string(e.Raw))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pub webhooks\n got %s\nwant %s", got, want)
	}

	// member_added, client_event with user_id, member_removed on presence.
	a.Subscribe("presence-room", "app-key", "app-secret", `{"user_id":"u1","user_info":{"name":"A"}}`)
	b.Subscribe("presence-room", "app-key", "app-secret", `{"user_id":"u2"}`)
	a.Send("client-typing", "presence-room", map[string]any{"x": 1})
	evs = rcv.WaitEvents(t, has("client_event", "presence-room", 1))
	ce := pixiutest.Find(evs, "client_event", "presence-room")[0]
	if w := `{"name":"client_event","channel":"presence-room","event":"client-typing","data":"{\"x\":1}","socket_id":"` +
		a.SocketID + `","user_id":"u1"}`; string(ce.Raw) != w {
		t.Fatalf("presence client_event\n got %s\nwant %s", ce.Raw, w)
	}
	unsubscribe(b, "presence-room")
	evs = rcv.WaitEvents(t, has("member_removed", "presence-room", 1))
	var members []string
	for _, e := range evs {
		if strings.HasPrefix(e.Name, "member_") {
			members = append(members, string(e.Raw))
		}
	}
	if w := []string{`{"name":"member_added","channel":"presence-room","user_id":"u1"}`,
		`{"name":"member_added","channel":"presence-room","user_id":"u2"}`,
		`{"name":"member_removed","channel":"presence-room","user_id":"u2"}`}; !slices.Equal(members, w) {
		t.Fatalf("member webhooks\n got %s\nwant %s", members, w)
	}
	if n := len(pixiutest.Find(evs, "subscription_count", "presence-room")); n != 0 {
		t.Fatalf("%d subscription_count webhooks on a presence channel", n)
	}

	// client_event on a private channel: no user_id.
	a.Subscribe("private-chat", "app-key", "app-secret", "")
	a.Send("client-x", "private-chat", "plain")
	evs = rcv.WaitEvents(t, has("client_event", "private-chat", 1))
	if ce := pixiutest.Find(evs, "client_event", "private-chat")[0]; string(ce.Raw) !=
		`{"name":"client_event","channel":"private-chat","event":"client-x","data":"plain","socket_id":"`+a.SocketID+`"}` {
		t.Fatalf("private client_event %s", ce.Raw)
	}

	// cache_miss, once however many clients find the cache empty.
	a.Subscribe("cache-quotes", "", "", "")
	b.Subscribe("cache-quotes", "", "", "")
	evs = rcv.WaitEvents(t, has("cache_miss", "cache-quotes", 1))
	if cm := pixiutest.Find(evs, "cache_miss", "cache-quotes")[0]; string(cm.Raw) != `{"name":"cache_miss","channel":"cache-quotes"}` {
		t.Fatalf("cache_miss %s", cm.Raw)
	}
	checkWebhooks(t, rcv.Requests(), "app-key", "app-secret")
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if st := s.Webhooks().Stats(); st.Sent == 0 || st.Failed != 0 || st.Dropped != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestWebhookFilters: per-endpoint event types and channel prefix.
func TestWebhookFilters(t *testing.T) {
	t.Parallel()
	occ, priv := pixiutest.NewReceiver(t), pixiutest.NewReceiver(t)
	s := pixiutest.Start(t, withWebhooks(-1,
		apps.Webhook{URL: occ.URL, Events: []string{"channel_occupied"}, Headers: map[string]string{"X-Token": "t1"}},
		apps.Webhook{URL: priv.URL, ChannelPrefix: "private-"}))
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("pub", "", "", "")
	c.Subscribe("private-a", "app-key", "app-secret", "")
	// Counts are coalesced (sent up to 250 ms after the change): wait for
	// private-a's before it is vacated.
	priv.WaitEvents(t, has("subscription_count", "private-a", 1))
	unsubscribe(c, "pub")
	unsubscribe(c, "private-a")
	c.Subscribe("private-z", "app-key", "app-secret", "") // sentinel: after everything above
	occ.WaitEvents(t, has("channel_occupied", "private-z", 1))
	priv.WaitEvents(t, has("subscription_count", "private-z", 1))
	var got []string
	for _, e := range occ.Events() {
		got = append(got, e.Name+":"+e.Channel)
	}
	if w := []string{"channel_occupied:pub", "channel_occupied:private-a", "channel_occupied:private-z"}; !slices.Equal(got, w) {
		t.Fatalf("occupied-only endpoint got %v", got)
	}
	got = nil
	for _, e := range priv.Events() {
		got = append(got, e.Name+":"+e.Channel)
	}
	if w := []string{"channel_occupied:private-a", "subscription_count:private-a", "channel_vacated:private-a",
		"channel_occupied:private-z", "subscription_count:private-z"}; !slices.Equal(got, w) {
		t.Fatalf("private- endpoint got %v", got)
	}
	for _, r := range occ.Requests() {
		if r.Header.Get("X-Token") != "t1" {
			t.Fatal("extra header missing")
		}
	}
	checkWebhooks(t, append(occ.Requests(), priv.Requests()...), "app-key", "app-secret")
}

// TestWebhookVacateRejoin: a client that leaves and comes back within the
// (shrunk) 3 s window causes neither channel_vacated nor a second
// channel_occupied (protocol.md §7.3).
func TestWebhookVacateRejoin(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	const delay = 400 * time.Millisecond
	s := pixiutest.Start(t, withWebhooks(delay, apps.Webhook{URL: rcv.URL,
		Events: []string{"channel_occupied", "channel_vacated", "member_added", "member_removed"}}))
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("presence-r", "app-key", "app-secret", `{"user_id":"u1"}`)
	unsubscribe(c, "presence-r")
	c.Subscribe("presence-r", "app-key", "app-secret", `{"user_id":"u1"}`)
	time.Sleep(delay + 100*time.Millisecond) // asserting that nothing is sent in the window
	c.Subscribe("sentinel", "", "", "")
	evs := rcv.WaitEvents(t, has("channel_occupied", "sentinel", 1))
	var got []string
	for _, e := range evs {
		got = append(got, e.Name+":"+e.Channel)
	}
	if w := []string{"channel_occupied:presence-r", "member_added:presence-r", "channel_occupied:sentinel"}; !slices.Equal(got, w) {
		t.Fatalf("got %v, want %v", got, w)
	}
	// Leaving for good is reported once the window has passed.
	_ = c.WaitClosedAfter(t)
	rcv.WaitEvents(t, has("channel_vacated", "presence-r", 1))
	rcv.WaitEvents(t, has("member_removed", "presence-r", 1))
}

// TestWebhookRetries: a receiver failing three times still gets the batch,
// with the same id each time.
func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(3)
	s := pixiutest.Start(t, func(c *config.Config) {
		withWebhooks(-1, apps.Webhook{URL: rcv.URL, Events: []string{"channel_occupied"}})(c)
		c.Webhooks.RetryHorizon = config.Duration(2 * time.Second) // back-off from 100 ms
	})
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("pub", "", "", "")
	rcv.WaitEvents(t, has("channel_occupied", "pub", 1))
	reqs := rcv.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 3 failures and a success", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("X-Pusher-Webhook-Id") != reqs[0].Header.Get("X-Pusher-Webhook-Id") {
			t.Fatal("a retry changed the webhook id")
		}
	}
	checkWebhooks(t, reqs, "app-key", "app-secret")
}
