package hub

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

var countedApp = &apps.App{ID: "a", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true, SubscriptionCount: true}}

// counts returns the subscription counts c was sent on channel, in order.
func (c *recClient) counts(channel string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, f := range c.frames {
		if !strings.Contains(f, `"event":"pusher_internal:subscription_count","channel":"`+channel+`"`) {
			continue
		}
		i := strings.Index(f, `subscription_count\":`)
		j := strings.Index(f[i:], "}")
		n, err := strconv.Atoi(f[i+len(`subscription_count\":`) : i+j])
		if err != nil {
			panic(f)
		}
		out = append(out, n)
	}
	return out
}

func subscribeN(t *testing.T, h *Hub, channel string, n int, id int) []*recClient {
	t.Helper()
	out := make([]*recClient, n)
	for i := range out {
		out[i] = &recClient{id: "1." + strconv.Itoa(id+i)}
		if err := h.Subscribe(context.Background(), countedApp, out[i], channel, nil); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A quiet hub sends a first change at once; the changes of a burst are
// coalesced into one update per window that carries the last value, and
// every subscriber (the ones that joined during the window too) gets it.
func TestSubscriptionCountsCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, obs := newTestHub(t)
		window := h.opts.CountWindow
		first := subscribeN(t, h, "room", 1, 0)[0]
		synctest.Wait()
		if got := first.counts("room"); !slices.Equal(got, []int{1}) {
			t.Fatalf("first join on a quiet hub: counts %v, want [1] at once", got)
		}
		rest := subscribeN(t, h, "room", 49, 1)
		synctest.Wait()
		if got := first.counts("room"); !slices.Equal(got, []int{1}) {
			t.Fatalf("within the window: counts %v, want still [1]", got)
		}
		time.Sleep(window)
		synctest.Wait()
		if got := first.counts("room"); !slices.Equal(got, []int{1, 50}) {
			t.Fatalf("after the window: counts %v, want [1 50]", got)
		}
		for _, c := range rest {
			if got := c.counts("room"); !slices.Equal(got, []int{50}) {
				t.Fatalf("%s: counts %v, want [50]", c.id, got)
			}
		}
		if n := obs.count(SubscriptionCount); n != 2 {
			t.Fatalf("%d subscription_count webhook events, want 2", n)
		}

		// Leaving: three leave; having told 50 subscribers, the channel
		// waits 50 × 50 ms before the trailing update, which says 47.
		for _, c := range rest[:3] {
			h.Unsubscribe(context.Background(), countedApp, c, "room", "")
		}
		if d := h.countInterval(50); d != 2500*time.Millisecond {
			t.Fatalf("interval after telling 50: %v, want 2.5s", d)
		}
		time.Sleep(2500*time.Millisecond - time.Millisecond)
		synctest.Wait()
		if got := first.counts("room"); !slices.Equal(got, []int{1, 50}) {
			t.Fatalf("before 2.5 s: counts %v, want still [1 50]", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := first.counts("room"); !slices.Equal(got, []int{1, 50, 47}) {
			t.Fatalf("after three left: counts %v, want [1 50 47]", got)
		}
		// Nothing more is sent while nothing changes.
		time.Sleep(10 * window)
		synctest.Wait()
		if got := first.counts("room"); len(got) != 3 {
			t.Fatalf("counts sent without a change: %v", got)
		}
	})
}

// Past 100 subscriptions counts go out at most every 5 s, and the last
// change of a window is sent at its end.
func TestSubscriptionCountTrailingUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newTestHub(t)
		first := subscribeN(t, h, "big", 1, 0)[0]
		synctest.Wait()
		subscribeN(t, h, "big", 100, 1)
		time.Sleep(h.opts.CountWindow)
		synctest.Wait()
		if got := first.counts("big"); !slices.Equal(got, []int{1, 101}) {
			t.Fatalf("counts %v, want [1 101]", got)
		}
		subscribeN(t, h, "big", 1, 101)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if got := first.counts("big"); !slices.Equal(got, []int{1, 101}) {
			t.Fatalf("within 5 s of the last update: counts %v, want [1 101]", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := first.counts("big"); !slices.Equal(got, []int{1, 101, 102}) {
			t.Fatalf("after 5 s: counts %v, want the trailing 102", got)
		}
	})
}

// A channel everybody left within the window gets no update, and its
// coalescing state is forgotten.
func TestSubscriptionCountNothingAfterTheChannelIsGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, obs := newTestHub(t)
		cs := subscribeN(t, h, "gone", 1, 0)
		synctest.Wait()
		cs = append(cs, subscribeN(t, h, "gone", 2, 1)...)
		for _, c := range cs {
			h.Unsubscribe(context.Background(), countedApp, c, "gone", "")
		}
		time.Sleep(2 * h.opts.CountWindow)
		synctest.Wait()
		for _, c := range cs {
			if got := c.counts("gone"); len(got) > 1 {
				t.Fatalf("%s: counts %v after the channel was vacated", c.id, got)
			}
		}
		if n := obs.count(SubscriptionCount); n != 1 {
			t.Fatalf("%d subscription_count webhook events, want 1 (the first join)", n)
		}
		// Another channel's flush more than 5 s later sweeps the state.
		time.Sleep(countWindowLarge)
		subscribeN(t, h, "other", 1, 10)
		synctest.Wait()
		s := h.shardFor(chanKey{"a", "gone"})
		s.countMu.Lock()
		_, kept := s.counts[chanKey{"a", "gone"}]
		s.countMu.Unlock()
		if kept {
			t.Fatal("the vacated channel's count state was kept")
		}
	})
}

// Presence channels and apps without the setting get no counts.
func TestSubscriptionCountOnlyWhereEnabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, obs := newTestHub(t)
		c := &recClient{id: "1.1"}
		if err := h.Subscribe(context.Background(), testApp, c, "plain", nil); err != nil {
			t.Fatal(err)
		}
		m := protocol.Member{UserID: "u"}
		if err := h.Subscribe(context.Background(), countedApp, c, "presence-p", &m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if c.got("subscription_count") != 0 || obs.count(SubscriptionCount) != 0 {
			t.Fatal("a count was sent for an app without subscription_count")
		}
	})
}

// A join storm costs one update per channel once it is over: the leading
// update of the first join goes out at once, then nothing while sockets keep
// joining (each update would cost a write to every subscriber), then the
// count at the end, CountWindow (plus at most one flush gap) after the last
// join.
func TestSubscriptionCountStormSendsOnceItIsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, obs := newTestHub(t)
		window := h.opts.CountWindow
		first := subscribeN(t, h, "storm", 1, 0)[0]
		synctest.Wait()
		var joined []*recClient
		for i := range 199 { // a join every 10 ms for about 2 s
			time.Sleep(10 * time.Millisecond)
			joined = append(joined, subscribeN(t, h, "storm", 1, 1+i)...)
		}
		time.Sleep(window - time.Millisecond)
		synctest.Wait()
		if got := first.counts("storm"); !slices.Equal(got, []int{1}) {
			t.Fatalf("during the storm: counts %v, want only the leading [1]", got)
		}
		// A flush runs at most every window/5, so the update may wait that
		// much longer.
		time.Sleep(window/countFlushesPerWindow + time.Millisecond)
		synctest.Wait()
		if got := first.counts("storm"); !slices.Equal(got, []int{1, 200}) {
			t.Fatalf("a window after the storm: counts %v, want [1 200]", got)
		}
		for _, c := range joined {
			if got := c.counts("storm"); !slices.Equal(got, []int{200}) {
				t.Fatalf("%s: counts %v, want [200]", c.id, got)
			}
		}
		if n := obs.count(SubscriptionCount); n != 2 {
			t.Fatalf("%d subscription_count webhook events, want 2", n)
		}
	})
}

// A count that never stands still is still sent, once the change has
// waited the channel's interval: here a small channel where someone joins or
// leaves every 100 ms for 3 s gets an update every 300–400 ms (the 250–300 ms
// interval of 5 or 6 subscribers, plus up to 100 ms until the next change
// starts the wait), each with the count as it then is, and the final count
// once the churn stops.
func TestSubscriptionCountChurnNeverWaitsLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newTestHub(t)
		first := subscribeN(t, h, "busy", 5, 0)[0]
		synctest.Wait()
		var extra *recClient
		for i := range 30 {
			time.Sleep(100 * time.Millisecond)
			if extra == nil {
				extra = subscribeN(t, h, "busy", 1, 100+i)[0]
			} else {
				h.Unsubscribe(context.Background(), countedApp, extra, "busy", "")
				extra = nil
			}
		}
		synctest.Wait()
		got := first.counts("busy")
		if len(got) < 8 || len(got) > 12 {
			t.Fatalf("%d updates in 3 s of churn (%v), want 8–12", len(got), got)
		}
		for _, n := range got {
			if n != 5 && n != 6 {
				t.Fatalf("count %d sent, want 5 or 6 (%v)", n, got)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got = first.counts("busy")
		final := 5
		if extra != nil {
			final = 6
		}
		if got[len(got)-1] != final {
			t.Fatalf("after the churn: last count %d, want %d (%v)", got[len(got)-1], final, got)
		}
	})
}

// A count that changes once in a while, each change after the last one
// stood still, is still bounded by the channel's interval: a 100-subscriber
// channel is told at most every 5 s.
func TestSubscriptionCountQuietChangesKeepTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newTestHub(t)
		first := subscribeN(t, h, "big", 1, 0)[0]
		synctest.Wait()
		subscribeN(t, h, "big", 99, 1)
		time.Sleep(h.opts.CountWindow)
		synctest.Wait()
		if got := first.counts("big"); !slices.Equal(got, []int{1, 100}) {
			t.Fatalf("counts %v, want [1 100]", got)
		}
		for i := range 15 { // a join every 400 ms: each stands still for longer than a window
			time.Sleep(400 * time.Millisecond)
			subscribeN(t, h, "big", 1, 100+i)
		}
		synctest.Wait()
		// 6 s since the update of 100: one more update at +5 s.
		if got := first.counts("big"); !slices.Equal(got, []int{1, 100, 112}) {
			t.Fatalf("counts %v, want one update 5 s after [1 100], with the 12 joins until then", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := first.counts("big"); got[len(got)-1] != 115 {
			t.Fatalf("counts %v, want the trailing 115", got)
		}
	})
}
