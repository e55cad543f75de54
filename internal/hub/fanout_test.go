package hub

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
)

// gateClient records the frames it is sent; while gated, the Send of an
// "ev" event waits for the gate to open (a slow fan-out, parked where
// synctest sees it).
type gateClient struct {
	recClient
	gate  chan struct{} // nil: never waits
	panic bool          // the first Send panics
}

func (c *gateClient) Send(f []byte) {
	if !bytes.Contains(f, []byte(`"event":"ev"`)) {
		c.recClient.Send(f) // subscription_succeeded and the like
		return
	}
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	p := c.panic
	c.panic = false
	c.mu.Unlock()
	if p {
		panic("test: Send panics")
	}
	c.recClient.Send(f)
}
func (c *gateClient) SendTracked(f []byte, d *Delivery) {
	c.Send(f)
	if d != nil { // as a transport does: held until written, then released
		d.Hold()
		d.Release()
	}
}

// datas returns the data of every "ev" event c got, in order.
func (c *recClient) datas() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.frames {
		if !strings.Contains(f, `"event":"ev"`) {
			continue
		}
		i := strings.Index(f, `"data":"`)
		j := strings.LastIndex(f, `"`)
		out = append(out, f[i+len(`"data":"`):j])
	}
	return out
}

func newAsyncHub(t *testing.T, o Options) *Hub {
	t.Helper()
	h, err := New(o, func(d cluster.Handler) (cluster.Engine, error) { return memory.New(d), nil })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sameShard returns two channel names of one shard.
func sameShard(h *Hub) (string, string) {
	first := h.shardFor(chanKey{testApp.ID, "big"})
	for i := 0; ; i++ {
		name := "small-" + strconv.Itoa(i)
		if h.shardFor(chanKey{testApp.ID, name}) == first {
			return "big", name
		}
	}
}

func subscribeAll(t *testing.T, h *Hub, channel string, cs ...Client) {
	t.Helper()
	for _, c := range cs {
		if err := h.Subscribe(context.Background(), testApp, c, channel, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func publish(t *testing.T, h *Hub, channel, data string) {
	t.Helper()
	if err := h.Publish(context.Background(), testApp.ID, []string{channel}, "ev", data, ""); err != nil {
		t.Fatal(err)
	}
}

// A message for more than AsyncFanout subscribers is fanned out by its
// shard's goroutine, and while that goroutine is busy the shard's small
// messages wait behind it instead of overtaking it: a socket subscribed to
// both channels gets them in the order they were published. Once the queue
// is empty, small messages are delivered by the publisher again.
func TestAsyncFanoutKeepsOrderAcrossPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newAsyncHub(t, Options{AsyncFanout: 2})
		big, small := sameShard(h)
		gate := make(chan struct{})
		x := &gateClient{recClient: recClient{id: "1.0"}, gate: gate}
		others := []Client{&gateClient{recClient: recClient{id: "1.1"}}, &gateClient{recClient: recClient{id: "1.2"}}}
		subscribeAll(t, h, big, append(others, x)...)
		subscribeAll(t, h, small, x)

		var want []string
		for i := range 5 {
			publish(t, h, big, "b"+strconv.Itoa(i))
			publish(t, h, small, "s"+strconv.Itoa(i))
			want = append(want, "b"+strconv.Itoa(i), "s"+strconv.Itoa(i))
		}
		synctest.Wait() // the shard's goroutine waits at x's gate
		if got := x.datas(); len(got) != 0 {
			t.Fatalf("x got %v while the first big fan-out waits: a small message overtook it", got)
		}
		close(gate)
		synctest.Wait()
		if got := x.datas(); !slices.Equal(got, want) {
			t.Fatalf("x got %v, want %v", got, want)
		}
		for _, c := range others {
			if got, want := c.(*gateClient).datas(), []string{"b0", "b1", "b2", "b3", "b4"}; !slices.Equal(got, want) {
				t.Fatalf("%s got %v, want %v", c.SocketID(), got, want)
			}
		}
		// The queue is empty: a small message goes out before Publish returns.
		publish(t, h, small, "s5")
		if got := x.datas(); got[len(got)-1] != "s5" {
			t.Fatalf("x got %v after an inline publish, want s5 last", got)
		}
	})
}

// A channel that grows past AsyncFanout between two messages and shrinks
// back while the shard's goroutine is still busy with the first: the third
// message waits in the queue rather than going out at once, so it cannot
// overtake the second.
func TestAsyncFanoutKeepsOrderWhenAChannelResizes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var gated atomic.Bool
		// OnDeliver runs after the shard's lock is released: parking there
		// keeps the shard's goroutine busy without blocking Unsubscribe.
		h := newAsyncHub(t, Options{AsyncFanout: 2, OnDeliver: func(string, int) {
			if gated.Load() {
				<-gate
			}
		}})
		x := &gateClient{recClient: recClient{id: "1.0"}}
		subscribeAll(t, h, "room", x)
		publish(t, h, "room", "m0") // one subscriber: by the publisher
		extra := []Client{&gateClient{recClient: recClient{id: "1.1"}}, &gateClient{recClient: recClient{id: "1.2"}}}
		subscribeAll(t, h, "room", extra...)
		gated.Store(true)
		publish(t, h, "room", "m1") // three: by the shard's goroutine, which then waits
		synctest.Wait()
		h.Unsubscribe(context.Background(), testApp, extra[1], "room", "")
		publish(t, h, "room", "m2") // two again, but queued behind m1
		if got, want := x.datas(), []string{"m0", "m1"}; !slices.Equal(got, want) {
			t.Fatalf("x got %v while the shard's goroutine is busy, want %v (m2 queued)", got, want)
		}
		gated.Store(false)
		close(gate)
		synctest.Wait()
		if got, want := x.datas(), []string{"m0", "m1", "m2"}; !slices.Equal(got, want) {
			t.Fatalf("x got %v, want %v", got, want)
		}
	})
}

// A full queue makes the publisher wait for room: nothing is dropped, and
// the messages arrive in order once the fan-out goes on.
func TestAsyncFanoutQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newAsyncHub(t, Options{AsyncFanout: 1})
		gate := make(chan struct{})
		x := &gateClient{recClient: recClient{id: "1.0"}, gate: gate}
		subscribeAll(t, h, "room", x, &gateClient{recClient: recClient{id: "1.1"}})
		const total = maxQueued + 10
		var published atomic.Int64
		go func() {
			for i := range total {
				publish(t, h, "room", strconv.Itoa(i))
				published.Add(1)
			}
		}()
		synctest.Wait()
		// One message is being fanned out (stuck at x), maxQueued wait, and
		// the publisher waits with the next.
		if got := published.Load(); got != maxQueued+1 {
			t.Fatalf("%d publishes returned while the fan-out is stuck, want %d", got, maxQueued+1)
		}
		close(gate)
		synctest.Wait()
		if got := published.Load(); got != total {
			t.Fatalf("%d publishes returned, want %d", got, total)
		}
		got := x.datas()
		if len(got) != total {
			t.Fatalf("x got %d messages, want %d", len(got), total)
		}
		for i, d := range got {
			if d != strconv.Itoa(i) {
				t.Fatalf("message %d is %q: lost, duplicated or out of order", i, d)
			}
		}
	})
}

// The publish→write latency is reported once per queued message, and the
// wait in the queue is part of it.
func TestAsyncFanoutReportsLatencyOncePerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []time.Duration
		h := newAsyncHub(t, Options{AsyncFanout: 1, OnWritten: func(d time.Duration) {
			mu.Lock()
			seen = append(seen, d)
			mu.Unlock()
		}})
		gate := make(chan struct{})
		subscribeAll(t, h, "room", &gateClient{recClient: recClient{id: "1.0"}, gate: gate}, &gateClient{recClient: recClient{id: "1.1"}})
		for i := range 3 {
			publish(t, h, "room", strconv.Itoa(i))
		}
		time.Sleep(time.Second) // the fan-out is stuck at the gate meanwhile
		close(gate)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 3 {
			t.Fatalf("latency reported %d times for 3 messages", len(seen))
		}
		for _, d := range seen {
			if d < time.Second {
				t.Fatalf("latency %v leaves out the second the message waited", d)
			}
		}
	})
}

// A panic while fanning a queued message out is logged and costs that
// message alone.
func TestAsyncFanoutSurvivesAPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
		h := newAsyncHub(t, Options{AsyncFanout: 1, Log: log})
		bad := &gateClient{recClient: recClient{id: "1.0"}, panic: true}
		good := &gateClient{recClient: recClient{id: "1.1"}}
		subscribeAll(t, h, "room", bad, good)
		publish(t, h, "room", "m0")
		publish(t, h, "room", "m1")
		synctest.Wait()
		if got := bad.datas(); !slices.Equal(got, []string{"m1"}) {
			t.Fatalf("the panicking client got %v, want [m1]", got)
		}
		if got := good.datas(); !slices.Contains(got, "m1") {
			t.Fatalf("the other client got %v, want m1 among them", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "fan-out panicked") {
			t.Fatalf("log %q does not say the fan-out panicked", logs.String())
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
