package redis_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

func itoa(i int) string { return fmt.Sprint(i) }

// eachRedis runs a multi-node test on the shared standalone Redis, through
// the test binary's Sentinel set and on its Redis Cluster (sharded pub/sub).
func eachRedis(t *testing.T, f func(t *testing.T, redisURL string)) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { t.Parallel(); f(t, "") })
	t.Run("sentinel", func(t *testing.T) { t.Parallel(); f(t, sharedSentinel(t).url()) })
	t.Run("cluster", func(t *testing.T) { t.Parallel(); f(t, sharedCluster(t).url()) })
}

// A REST publish on node 1 reaches the subscribers on every node exactly
// once and in order; socket_id exclusion and client events cross nodes.
func TestNodesFanout(t *testing.T) { eachRedis(t, testNodesFanout) }

func testNodesFanout(t *testing.T, redisURL string) {
	n := startNodes(t, 3, clusterOpts{redisURL: redisURL})
	var subs []*pixiutest.Client
	for _, nd := range []*node{n[0], n[1], n[1], n[2]} {
		c := nd.dial()
		c.Subscribe("fan", "", "", "")
		subs = append(subs, c)
	}
	const count = 50
	for i := range count {
		n[0].rest().Trigger(t, []string{"fan"}, "tick", itoa(i))
	}
	for i, c := range subs {
		got := expectN(t, c, "tick", count)
		for j, d := range got {
			if d != itoa(j) {
				t.Fatalf("subscriber %d: event %d has data %s (order broken): %v", i, j, d, got)
			}
		}
	}

	// Exclude a socket of node 3 from a publish made on node 2.
	st, body := n[1].rest().Do(t, "POST", "/apps/app-id/events", "",
		map[string]any{"name": "excl", "channels": []string{"fan"}, "data": "x", "socket_id": subs[3].SocketID})
	if st != 200 {
		t.Fatalf("trigger: %d %s", st, body)
	}
	for _, c := range subs[:3] {
		expectN(t, c, "excl", 1)
	}
	subs[3].Quiet("excl", 300*time.Millisecond)

	// Client events: node 1 → nodes 2 and 3, not back to the sender.
	sender, a, b := n[0].dial(), n[1].dial(), n[2].dial()
	for _, c := range []*pixiutest.Client{sender, a, b} {
		c.Subscribe("private-chat", "app-key", "app-secret", "")
	}
	sender.Send("client-hello", "private-chat", map[string]any{"hi": 1})
	for _, c := range []*pixiutest.Client{a, b} {
		if got := expectN(t, c, "client-hello", 1); got[0] != `{"hi":1}` {
			t.Fatalf("client event data %s", got[0])
		}
	}
	sender.Quiet("client-hello", 200*time.Millisecond)
}

// One user on two nodes is one member: subscription_succeeded lists the
// members of every node, member_added comes once, member_removed only when
// the user's last socket (on either node) leaves; webhooks likewise.
func TestNodesPresence(t *testing.T) { eachRedis(t, testNodesPresence) }

func testNodesPresence(t *testing.T, redisURL string) {
	hooks := pixiutest.NewReceiver(t)
	n := startNodes(t, 3, clusterOpts{redisURL: redisURL, webhook: hooks.URL})
	ch := "presence-room"
	watcher := n[2].dial()
	watcher.Subscribe(ch, "app-key", "app-secret", `{"user_id":"w"}`)

	u1 := n[0].dial()
	u1.Subscribe(ch, "app-key", "app-secret", `{"user_id":"u","user_info":{"name":"U"}}`)
	if got := expectN(t, watcher, "pusher_internal:member_added", 1); got[0] != `{"user_id":"u","user_info":{"name":"U"}}` {
		t.Fatalf("member_added %s", got[0])
	}
	u2 := n[1].dial()
	ok := u2.Subscribe(ch, "app-key", "app-secret", `{"user_id":"u","user_info":{"name":"U"}}`)
	var d struct {
		Presence struct {
			IDs   []string                   `json:"ids"`
			Hash  map[string]json.RawMessage `json:"hash"`
			Count int                        `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal([]byte(ok.DataString()), &d); err != nil {
		t.Fatal(err)
	}
	if d.Presence.Count != 2 || strings.Join(d.Presence.IDs, ",") != "u,w" || string(d.Presence.Hash["u"]) != `{"name":"U"}` {
		t.Fatalf("subscription_succeeded on node 2 lists %s", ok.DataString())
	}
	watcher.Quiet("pusher_internal:member_added", 200*time.Millisecond)
	for _, nd := range n {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil); st != 200 || body != `{"users":[{"id":"u"},{"id":"w"}]}` {
			t.Fatalf("node %s users: %d %s", nd.name, st, body)
		}
	}

	u1.Send("pusher:unsubscribe", "", map[string]any{"channel": ch})
	watcher.Quiet("pusher_internal:member_removed", 300*time.Millisecond)
	_ = u2.WaitClosedAfter(t)
	if got := expectN(t, watcher, "pusher_internal:member_removed", 1); got[0] != `{"user_id":"u"}` {
		t.Fatalf("member_removed %s", got[0])
	}
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if a, r := len(pixiutest.Find(evs, "member_added", ch)), len(pixiutest.Find(evs, "member_removed", ch)); a != 2 || r != 1 {
			return fmt.Errorf("%d member_added, %d member_removed; want 2 (w, u) and 1", a, r)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // duplicates, if any, would come from other nodes by now
	evs := hooks.Events()
	if r := pixiutest.Find(evs, "member_removed", ch); len(r) != 1 || r[0].UserID != "u" {
		t.Fatalf("member_removed webhooks: %+v", r)
	}
}

// channel_occupied and channel_vacated fire once cluster-wide, however the
// subscriptions are spread; REST counts are the whole cluster's from any node.
func TestNodesOccupancyAndCounts(t *testing.T) { eachRedis(t, testNodesOccupancyAndCounts) }

func testNodesOccupancyAndCounts(t *testing.T, redisURL string) {
	hooks := pixiutest.NewReceiver(t)
	n := startNodes(t, 3, clusterOpts{redisURL: redisURL, webhook: hooks.URL})
	var clients []*pixiutest.Client
	for i, nd := range []*node{n[0], n[0], n[1], n[2], n[2], n[2]} {
		c := nd.dial()
		c.Subscribe("room", "", "", "")
		if i < 2 {
			c.Subscribe("presence-p", "app-key", "app-secret", fmt.Sprintf(`{"user_id":"user%d"}`, i))
		}
		clients = append(clients, c)
	}
	for _, nd := range n {
		st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/room", "info=subscription_count", nil)
		if st != 200 || body != `{"occupied":true,"subscription_count":6}` {
			t.Fatalf("node %s channel: %d %s", nd.name, st, body)
		}
		st, body = nd.rest().Do(t, "GET", "/apps/app-id/channels", "info=subscription_count", nil)
		if st != 200 || body != `{"channels":{"presence-p":{"subscription_count":2},"room":{"subscription_count":6}}}` {
			t.Fatalf("node %s channels: %d %s", nd.name, st, body)
		}
		st, body = nd.rest().Do(t, "GET", "/apps/app-id/channels", "filter_by_prefix=presence-&info=user_count", nil)
		if st != 200 || body != `{"channels":{"presence-p":{"user_count":2}}}` {
			t.Fatalf("node %s presence channels: %d %s", nd.name, st, body)
		}
	}
	for _, c := range clients {
		_ = c.WaitClosedAfter(t)
	}
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if o, v := len(pixiutest.Find(evs, "channel_occupied", "room")), len(pixiutest.Find(evs, "channel_vacated", "room")); o != 1 || v != 1 {
			return fmt.Errorf("%d channel_occupied, %d channel_vacated for room; want 1 and 1", o, v)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	evs := hooks.Events()
	if o, v := len(pixiutest.Find(evs, "channel_occupied", "room")), len(pixiutest.Find(evs, "channel_vacated", "room")); o != 1 || v != 1 {
		t.Fatalf("%d channel_occupied, %d channel_vacated; want exactly 1 and 1", o, v)
	}
	for _, nd := range n {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels", "", nil); st != 200 || body != `{"channels":{}}` {
			t.Fatalf("node %s channels after everyone left: %d %s", nd.name, st, body)
		}
	}
}

// terminate_connections on one node closes the user's sockets on every node;
// max_connections counts the whole cluster.
func TestNodesTerminateAndConnectionLimit(t *testing.T) {
	eachRedis(t, testNodesTerminateAndConnectionLimit)
}

func testNodesTerminateAndConnectionLimit(t *testing.T, redisURL string) {
	n := startNodes(t, 3, clusterOpts{redisURL: redisURL, mutate: func(c *config.Config) {
		c.Apps = append(c.Apps, pixiutest.App("small", "small-key", "small-secret", func(s *apps.Settings) { s.MaxConnections = 2 }))
	}})
	victims := []*pixiutest.Client{n[1].dial(), n[2].dial()}
	for _, c := range victims {
		signin(t, c, "victim")
	}
	if st, body := n[0].rest().Do(t, "POST", "/apps/app-id/users/victim/terminate_connections", "", map[string]any{}); st != 200 {
		t.Fatalf("terminate: %d %s", st, body)
	}
	for _, c := range victims {
		if code := c.WaitClosed(); code != 4009 {
			t.Fatalf("close code %d, want 4009", code)
		}
	}

	pixiutest.Dial(t, n[0].Addr, "small-key")
	pixiutest.Dial(t, n[1].Addr, "small-key")
	// The counts are exchanged about once a second: until node 3 knows the
	// others' connections it may admit one; then it must refuse.
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		c := pixiutest.DialRaw(t, "ws://"+n[2].Addr+"/app/small-key?protocol=7")
		if e := c.Next(); e.Event == "pusher:error" && strings.Contains(string(e.Data), "4004") {
			return nil
		}
		_ = c.WaitClosedAfter(t)
		return fmt.Errorf("node 3 admitted a third connection")
	})
}

func signin(t *testing.T, c *pixiutest.Client, user string) {
	t.Helper()
	ud := `{"id":"` + user + `"}`
	c.Send("pusher:signin", "", map[string]any{"user_data": ud,
		"auth": signature.UserAuth("app-key", "app-secret", c.SocketID, ud)})
	c.Expect("pusher:signin_success")
}

// SIGKILL a node: the survivors remove its members and subscriptions within
// the documented bound (lease 10s + one renewal period ≤ 15s) and announce
// them exactly once, to clients and webhooks.
func TestNodesSIGKILL(t *testing.T) { eachRedis(t, testNodesSIGKILL) }

func testNodesSIGKILL(t *testing.T, redisURL string) {
	hooks := pixiutest.NewReceiver(t)
	n := startNodes(t, 3, clusterOpts{redisURL: redisURL, webhook: hooks.URL})
	ch := "presence-k"
	watcher := n[0].dial()
	watcher.Subscribe(ch, "app-key", "app-secret", `{"user_id":"stays"}`)
	other := n[1].dial()
	other.Subscribe(ch, "app-key", "app-secret", `{"user_id":"both"}`)
	for _, u := range []string{"both", "gone", "gone"} {
		c := n[2].dial()
		c.Subscribe(ch, "app-key", "app-secret", `{"user_id":"`+u+`"}`)
	}
	solo := n[2].dial()
	solo.Subscribe("solo", "", "", "")
	expectN(t, watcher, "pusher_internal:member_added", 2) // both, gone

	killed := time.Now()
	n[2].kill()
	pixiutest.WaitFor(t, 15*time.Second, func() error {
		if _, body := n[0].rest().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil); strings.Contains(body, "gone") {
			return fmt.Errorf("gone is still a member: %s", body)
		}
		return nil
	})
	e := watcher.Expect("pusher_internal:member_removed")
	t.Logf("member_removed delivered %s after SIGKILL", time.Since(killed).Round(time.Millisecond))
	if d := time.Since(killed); d > 15*time.Second {
		t.Fatalf("member_removed delivered %s after SIGKILL, beyond the 15s bound", d)
	}
	if e.DataString() != `{"user_id":"gone"}` {
		t.Fatalf("member_removed %s", e.DataString())
	}
	other.Expect("pusher_internal:member_removed")
	watcher.Quiet("pusher_internal:member_removed", 500*time.Millisecond)
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "member_removed", ch)) < 1 || len(pixiutest.Find(evs, "channel_vacated", "solo")) < 1 {
			return fmt.Errorf("no member_removed / channel_vacated webhook yet")
		}
		return nil
	})
	if d := time.Since(killed); d > 15*time.Second {
		t.Fatalf("webhooks arrived %s after SIGKILL, beyond the 15s bound", d)
	}
	time.Sleep(500 * time.Millisecond) // no duplicate may follow
	evs := hooks.Events()
	if r := pixiutest.Find(evs, "member_removed", ch); len(r) != 1 || r[0].UserID != "gone" {
		t.Fatalf("member_removed webhooks %+v, want exactly one for gone", r)
	}
	if v := pixiutest.Find(evs, "channel_vacated", "solo"); len(v) != 1 {
		t.Fatalf("%d channel_vacated webhooks for solo, want 1", len(v))
	}
	if v := pixiutest.Find(evs, "channel_vacated", ch); len(v) != 0 {
		t.Fatalf("%s is still occupied but got channel_vacated", ch)
	}
	for _, nd := range n[:2] {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil); st != 200 || body != `{"users":[{"id":"both"},{"id":"stays"}]}` {
			t.Fatalf("node %s users after the kill: %d %s", nd.name, st, body)
		}
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels", "info=subscription_count", nil); st != 200 || body != `{"channels":{"`+ch+`":{"subscription_count":2}}}` {
			t.Fatalf("node %s channels after the kill: %d %s", nd.name, st, body)
		}
	}
}

// Redis goes away: readiness turns red and publishes answer 503 on every
// node; Redis comes back empty: readiness turns green, subscribers of
// before the outage receive again and presence is re-registered, with no
// restart of any node.
func TestNodesRedisOutage(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	n := startNodes(t, 2, clusterOpts{redisURL: rs.url(), lease: 3 * time.Second})
	sub := n[1].dial()
	sub.Subscribe("news", "", "", "")
	p := n[1].dial()
	p.Subscribe("presence-o", "app-key", "app-secret", `{"user_id":"kept"}`)
	n[0].rest().Trigger(t, []string{"news"}, "before", "1")
	expectN(t, sub, "before", 1)

	rs.shutdown()
	for _, nd := range n {
		nd.waitStatus(10*time.Second, http.StatusServiceUnavailable)
		st, body := nd.rest().Do(t, "POST", "/apps/app-id/events", "", map[string]any{"name": "lost", "channels": []string{"news"}, "data": "x"})
		if st != http.StatusServiceUnavailable {
			t.Fatalf("node %s publish during the outage: %d %s, want 503", nd.name, st, body)
		}
	}
	// A socket that subscribes during the outage is told why, then closed
	// with 4100 so that its client reconnects after backing off and
	// subscribes again (pusher-js never retries a failed subscription).
	late := n[1].dial()
	late.Send("pusher:subscribe", "", map[string]any{"channel": "late"})
	if e := late.Expect("pusher:subscription_error"); !strings.Contains(e.DataString(), `"status":503`) {
		t.Fatalf("subscription_error during the outage: %s", e.DataString())
	}
	if code := late.WaitClosed(); code != 4100 {
		t.Fatalf("socket whose subscription failed during the outage closed with %d, want 4100", code)
	}

	rs.start()
	for _, nd := range n {
		nd.waitReady(15 * time.Second)
	}
	again := n[1].dial() // the client's reconnect
	again.Subscribe("late", "", "", "")
	n[0].rest().Trigger(t, []string{"late"}, "back", "3")
	expectN(t, again, "back", 1)
	n[0].rest().Trigger(t, []string{"news"}, "after", "2")
	if got := expectN(t, sub, "after", 1); got[0] != "2" {
		t.Fatalf("after the outage: %v", got)
	}
	sub.Quiet("lost", 100*time.Millisecond)
	for _, nd := range n {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/presence-o/users", "", nil); st != 200 || body != `{"users":[{"id":"kept"}]}` {
			t.Fatalf("node %s users after Redis came back empty: %d %s", nd.name, st, body)
		}
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/news", "info=subscription_count", nil); st != 200 || body != `{"occupied":true,"subscription_count":1}` {
			t.Fatalf("node %s news after the outage: %d %s", nd.name, st, body)
		}
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels", "", nil); st != 200 || body != `{"channels":{"late":{},"news":{},"presence-o":{}}}` {
			t.Fatalf("node %s channel listing after Redis came back empty: %d %s", nd.name, st, body)
		}
	}
}

// Watchlist online/offline is cluster-wide: a user signing in on one node is
// announced to watchers on another, once, and so is its last sign-out.
func TestNodesWatchlist(t *testing.T) { eachRedis(t, testNodesWatchlist) }

func testNodesWatchlist(t *testing.T, redisURL string) {
	n := startNodes(t, 2, clusterOpts{redisURL: redisURL})
	w := n[0].dial()
	ud := `{"id":"watcher","watchlist":["star"]}`
	w.Send("pusher:signin", "", map[string]any{"user_data": ud,
		"auth": signature.UserAuth("app-key", "app-secret", w.SocketID, ud)})
	w.Expect("pusher:signin_success")

	s1, s2 := n[1].dial(), n[1].dial()
	signin(t, s1, "star")
	if e := w.Expect("pusher_internal:watchlist_events"); !strings.Contains(e.DataString(), `"name":"online","user_ids":["star"]`) {
		t.Fatalf("online event %s", e.DataString())
	}
	signin(t, s2, "star") // a second socket of the same user: no second "online"
	w.Quiet("pusher_internal:watchlist_events", 300*time.Millisecond)

	late := n[0].dial() // a watcher signing in later learns the current status
	ud2 := `{"id":"late","watchlist":["star","nobody"]}`
	late.Send("pusher:signin", "", map[string]any{"user_data": ud2,
		"auth": signature.UserAuth("app-key", "app-secret", late.SocketID, ud2)})
	if e := late.Expect("pusher_internal:watchlist_events"); !strings.Contains(e.DataString(), `"user_ids":["star"]`) {
		t.Fatalf("initial status %s", e.DataString())
	}

	_ = s1.WaitClosedAfter(t)
	w.Quiet("pusher_internal:watchlist_events", 300*time.Millisecond)
	_ = s2.WaitClosedAfter(t)
	if e := w.Expect("pusher_internal:watchlist_events"); !strings.Contains(e.DataString(), `"name":"offline","user_ids":["star"]`) {
		t.Fatalf("offline event %s", e.DataString())
	}
}

// A channel vacated on one node and re-occupied on another within the
// webhook hold (3 s; 1 s here) sends no channel_vacated: the held event is re-checked
// against the cluster when its hold ends (protocol.md §7.3).
func TestNodesVacateHoldAcrossNodes(t *testing.T) { eachRedis(t, testNodesVacateHoldAcrossNodes) }

func testNodesVacateHoldAcrossNodes(t *testing.T, redisURL string) {
	hooks := pixiutest.NewReceiver(t)
	n := startNodes(t, 2, clusterOpts{redisURL: redisURL, webhook: hooks.URL, mutate: func(c *config.Config) {
		c.Webhooks.VacateDelay = config.Duration(time.Second)
	}})
	a := n[0].dial()
	a.Subscribe("hop", "", "", "")
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "channel_occupied", "hop")) != 1 {
			return fmt.Errorf("no channel_occupied yet")
		}
		return nil
	})
	a.Send("pusher:unsubscribe", "", map[string]any{"channel": "hop"})
	b := n[1].dial()
	b.Subscribe("hop", "", "", "")
	time.Sleep(2500 * time.Millisecond) // past the (shortened) 1 s hold and a batch interval
	if v := pixiutest.Find(hooks.Events(), "channel_vacated", "hop"); len(v) != 0 {
		t.Fatalf("channel_vacated sent although the channel was re-occupied on another node within the hold: %+v", v)
	}
}
