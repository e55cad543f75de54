package redis_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// A node frozen for longer than its pub/sub staleness bound (3 Intervals +
// OpTimeout, 5 s) but shorter than its lease (SIGSTOP; in production a long
// GC or VM pause, a frozen container) finds, when it resumes, the pongs and
// messages of its healthy pub/sub connection still unread in the socket. It
// must read them rather than declare the connection dead: a connection torn
// down then loses the messages published meanwhile for its own subscribers,
// including those of the publishes it answered 200 as it woke up.
func TestNodesPausedNodeKeepsItsPubSub(t *testing.T) {
	t.Parallel()
	n := startNodes(t, 2, clusterOpts{})
	const ch = "pause-ch"
	subs := []*pixiutest.Client{n[0].dial(), n[1].dial()}
	for _, c := range subs {
		c.Subscribe(ch, "", "", "")
	}

	var mu sync.Mutex
	var accepted []int
	var wg sync.WaitGroup
	publish := func(nd *node, i int) {
		defer wg.Done()
		st, body, err := nd.rest().Send("POST", "/apps/app-id/events", "",
			[]byte(fmt.Sprintf(`{"name":"seq","channels":[%q],"data":"%d"}`, ch, i)))
		switch {
		case err != nil:
			t.Errorf("publish %d: %v", i, err)
		case st == http.StatusOK:
			mu.Lock()
			accepted = append(accepted, i)
			mu.Unlock()
		case st != http.StatusServiceUnavailable:
			t.Errorf("publish %d: %d %s, want 200 or 503", i, st, body)
		}
	}

	if err := n[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	seq := 0
	for range 20 { // wait in n1's accept queue; they run as it resumes
		wg.Add(1)
		go publish(n[0], seq)
		seq++
	}
	for range 10 { // through n2 while n1 sleeps: queued in n1's pub/sub socket
		wg.Add(1)
		publish(n[1], seq)
		seq++
	}
	time.Sleep(6500 * time.Millisecond)
	if err := n[0].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); seq++ {
		wg.Add(1)
		publish(n[0], seq)
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for _, nd := range n {
		nd.waitReady(15 * time.Second)
	}
	n[1].rest().Trigger(t, []string{ch}, "end", "")

	for k, c := range subs {
		got := map[int]int{}
		for {
			e := c.Next()
			if e.Event == "end" {
				break
			}
			if e.Event != "seq" {
				continue
			}
			i, _ := strconv.Atoi(e.DataString())
			got[i]++
		}
		var missing []int
		for _, i := range accepted {
			if got[i] != 1 {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			t.Errorf("subscriber on %s: publishes answered 200 received other than once: %v (%d accepted)", n[k].name, missing, len(accepted))
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d of %d publishes answered 200, each received once on both nodes", len(accepted), seq)
}

// A node SIGKILLed and started again (same node id) while another takes
// publishes: its clients reconnect, subscribe again and recover what they
// missed from the channel history (in Redis, so any node answers), in order
// and once, then receive later publishes once.
func TestNodesRecoverAcrossRestart(t *testing.T) {
	t.Parallel()
	bin, err := buildBin()
	if err != nil {
		t.Fatal(err)
	}
	o := clusterOpts{redisURL: testURL(), mutate: func(c *config.Config) {
		c.Apps[0].History = apps.History{Channels: []string{"hist-"}, MaxEvents: 100, MaxAgeSeconds: 600}
	}}
	n := startNodes(t, 2, o)
	const ch = "hist-restart"
	c := n[1].dial()
	c.Subscribe(ch, "", "", "")
	n[0].rest().Trigger(t, []string{ch}, "e", "0")
	since := c.Expect("e").ID
	if since == "" {
		t.Fatal("event without a history id")
	}

	n[1].kill()
	for i := 1; i <= 5; i++ {
		n[0].rest().Trigger(t, []string{ch}, "e", strconv.Itoa(i))
	}
	b := startNode(t, bin, "n2", n[0].prefix, o)
	b.waitReady(20 * time.Second)
	n[0].rest().Trigger(t, []string{ch}, "e", "6")

	c = b.dial()
	c.Subscribe(ch, "", "", "")
	c.Send("pixiu:recover", ch, map[string]any{"since": since})
	var got []string
	for {
		e := c.Next()
		if e.Event == "pixiu:recovered" {
			break
		}
		if e.Event == "pixiu:recovery_failed" {
			t.Fatalf("recovery failed: %s", e.DataString())
		}
		if e.Event == "e" {
			got = append(got, e.DataString())
		}
	}
	n[0].rest().Trigger(t, []string{ch}, "e", "7")
	got = append(got, expectN(t, c, "e", 1)...)
	if strings.Join(got, ",") != "1,2,3,4,5,6,7" {
		t.Fatalf("after the restart the client got %v, want 1..7 in order, once each", got)
	}
}

// A node frozen longer than its lease (SIGSTOP) is reaped like a dead one;
// when it resumes it writes its state back. Every other node's clients and
// the webhooks see the member leave once and come back once, the counts are
// right again on every node, and its sockets, never closed, receive again.
func TestNodesZombieRejoins(t *testing.T) {
	t.Parallel()
	hooks := pixiutest.NewReceiver(t)
	lease := 3 * time.Second
	n := startNodes(t, 2, clusterOpts{lease: lease, webhook: hooks.URL})
	const ch = "presence-z"
	watcher := n[1].dial()
	watcher.Subscribe(ch, "app-key", "app-secret", `{"user_id":"w"}`)
	zombie := n[0].dial()
	zombie.Subscribe(ch, "app-key", "app-secret", `{"user_id":"z"}`)
	solo := n[0].dial()
	solo.Subscribe("solo-z", "", "", "")
	expectN(t, watcher, "pusher_internal:member_added", 1)

	if err := n[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e := watcher.Expect("pusher_internal:member_removed")
	if e.DataString() != `{"user_id":"z"}` {
		t.Fatalf("member_removed %s", e.DataString())
	}
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "member_removed", ch)) < 1 || len(pixiutest.Find(evs, "channel_vacated", "solo-z")) < 1 {
			return fmt.Errorf("no member_removed / channel_vacated webhook yet")
		}
		return nil
	})
	if err := n[0].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	e = watcher.Expect("pusher_internal:member_added")
	if !strings.Contains(e.DataString(), `"user_id":"z"`) {
		t.Fatalf("member_added %s", e.DataString())
	}
	n[0].waitReady(10 * time.Second)
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "member_added", ch)) < 3 || len(pixiutest.Find(evs, "channel_occupied", "solo-z")) < 2 {
			return fmt.Errorf("no member_added / channel_occupied webhook after the return yet")
		}
		return nil
	})
	watcher.Quiet("pusher_internal:member_removed", 500*time.Millisecond)
	evs := hooks.Events()
	for _, w := range []struct {
		name, ch string
		want     int
	}{{"member_removed", ch, 1}, {"member_added", ch, 3}, {"channel_vacated", "solo-z", 1}, {"channel_occupied", "solo-z", 2}, {"channel_vacated", ch, 0}} {
		if got := len(pixiutest.Find(evs, w.name, w.ch)); got != w.want {
			t.Errorf("%d %s webhooks for %s, want %d", got, w.name, w.ch, w.want)
		}
	}
	for _, nd := range n {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil); st != 200 || body != `{"users":[{"id":"w"},{"id":"z"}]}` {
			t.Errorf("node %s users after the return: %d %s", nd.name, st, body)
		}
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/solo-z", "info=subscription_count", nil); st != 200 || body != `{"occupied":true,"subscription_count":1}` {
			t.Errorf("node %s solo-z after the return: %d %s", nd.name, st, body)
		}
	}
	n[1].rest().Trigger(t, []string{"solo-z"}, "after", "1")
	expectN(t, solo, "after", 1)
}

// Redis loses its data while every connection to it stays up (FLUSHALL):
// no outage is seen, but the nodes notice the new epoch within an Interval
// and write their state back. A member joining in that instant is announced
// once; no member of before is announced again or removed; counts, users
// and the channel listing read right on every node.
func TestNodesRedisFlushed(t *testing.T) {
	t.Parallel()
	hooks := pixiutest.NewReceiver(t)
	rs := startRedis(t)
	n := startNodes(t, 2, clusterOpts{redisURL: rs.url(), webhook: hooks.URL})
	const ch = "presence-f"
	w := []*pixiutest.Client{n[0].dial(), n[1].dial()}
	w[0].Subscribe(ch, "app-key", "app-secret", `{"user_id":"a"}`)
	w[1].Subscribe(ch, "app-key", "app-secret", `{"user_id":"b"}`)
	expectN(t, w[0], "pusher_internal:member_added", 1)
	pub := n[1].dial()
	pub.Subscribe("news-f", "", "", "")
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "channel_occupied", "news-f")) < 1 {
			return fmt.Errorf("no channel_occupied yet")
		}
		return nil
	})

	// Nodes up for a while (a node that has just started re-registers only
	// once the others had 3 Intervals to start too).
	// Then forget what the joins sent: b may also have got a's member_added
	// (a join race, docs/CLUSTER.md "Known limits").
	time.Sleep(3 * time.Second)
	for _, c := range w {
		for _, more := c.NextWithin(100 * time.Millisecond); more; _, more = c.NextWithin(100 * time.Millisecond) {
		}
	}
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(rs.port), "flushall").CombinedOutput()
	if err != nil {
		t.Fatalf("flushall: %v %s", err, out)
	}
	late := n[1].dial()
	late.Send("pusher:subscribe", "", map[string]any{"channel": ch, "channel_data": `{"user_id":"c"}`,
		"auth": signature.ChannelAuth("app-key", "app-secret", late.SocketID, ch, `{"user_id":"c"}`)})
	for e := late.Next(); e.Event != "pusher_internal:subscription_succeeded"; e = late.Next() {
		if e.Event == "pusher:subscription_error" || e.Event == "pusher:error" {
			t.Fatalf("joining right after FLUSHALL: %s %s", e.Event, e.Data)
		}
	}
	for _, c := range w {
		if e := c.Expect("pusher_internal:member_added"); !strings.Contains(e.DataString(), `"user_id":"c"`) {
			t.Fatalf("member_added %s, want c", e.DataString())
		}
	}
	for _, nd := range n {
		pixiutest.WaitFor(t, 5*time.Second, func() error {
			if !strings.Contains(nd.out.String(), "redis lost its data") {
				return fmt.Errorf("node %s has not noticed the FLUSHALL", nd.name)
			}
			return nil
		})
		nd.waitReady(10 * time.Second)
	}
	time.Sleep(time.Second) // a later re-registration would announce here
	for _, c := range w {
		c.Quiet("pusher_internal:member_added", 100*time.Millisecond)
		c.Quiet("pusher_internal:member_removed", 0)
	}
	for _, nd := range n {
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil); st != 200 || body != `{"users":[{"id":"a"},{"id":"b"},{"id":"c"}]}` {
			t.Errorf("node %s users after FLUSHALL: %d %s", nd.name, st, body)
		}
		if st, body := nd.rest().Do(t, "GET", "/apps/app-id/channels", "info=subscription_count", nil); st != 200 || body != `{"channels":{"news-f":{"subscription_count":1},"`+ch+`":{"subscription_count":3}}}` {
			t.Errorf("node %s channels after FLUSHALL: %d %s", nd.name, st, body)
		}
	}
	n[0].rest().Trigger(t, []string{"news-f"}, "after", "1")
	expectN(t, pub, "after", 1)
	evs := hooks.Events()
	if r := pixiutest.Find(evs, "member_removed", ch); len(r) != 0 {
		t.Errorf("member_removed webhooks %+v after FLUSHALL", r)
	}
	if a := pixiutest.Find(evs, "member_added", ch); len(a) != 3 {
		t.Errorf("%d member_added webhooks, want 3 (a, b, then c once)", len(a))
	}
	if v := pixiutest.Find(evs, "channel_occupied", "news-f"); len(v) != 1 {
		t.Errorf("%d channel_occupied webhooks for news-f, want 1", len(v))
	}
}
