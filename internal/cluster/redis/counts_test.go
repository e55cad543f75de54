package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// countClient records the subscription counts it is sent.
type countClient struct {
	id     string
	mu     sync.Mutex
	counts []int
}

func (c *countClient) SocketID() string                          { return c.id }
func (c *countClient) Close(*protocol.Error)                     {}
func (c *countClient) SendTracked(frame []byte, _ *hub.Delivery) { c.Send(frame) }
func (c *countClient) Send(frame []byte) {
	f := string(frame)
	const key = `subscription_count\":`
	i := strings.Index(f, key)
	if !strings.Contains(f, protocol.EventSubscriptionCount) || i < 0 {
		return
	}
	j := strings.IndexByte(f[i:], '}')
	n, err := strconv.Atoi(f[i+len(key) : i+j])
	if err != nil {
		panic(f)
	}
	c.mu.Lock()
	c.counts = append(c.counts, n)
	c.mu.Unlock()
}

func (c *countClient) last() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.counts) == 0 {
		return -1, 0
	}
	return c.counts[len(c.counts)-1], len(c.counts)
}

// Coalesced subscription counts across two nodes: every subscriber, on
// either node, ends with the cluster-wide count, after joins and leaves on
// both nodes, and a node whose local subscribers all left still tells the
// other node's subscribers.
func TestCoalescedCountsAcrossNodes(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	prefix := testPrefix(t, url)
	node := func() *hub.Hub {
		h, err := hub.New(hub.Options{CountWindow: 50 * time.Millisecond}, func(d cluster.Handler) (cluster.Engine, error) {
			return redis.New(redis.Options{URL: url, KeyPrefix: prefix, LeaseTTL: time.Second}, d)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Engine().Close() })
		clustertest.WaitFor(t, 10*time.Second, h.Engine().Ready)
		return h
	}
	a, b := node(), node()
	app := &apps.App{ID: "counts", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true, SubscriptionCount: true}}
	ctx := context.Background()
	var onA, onB []*countClient
	join := func(h *hub.Hub, list *[]*countClient, n int) {
		for range n {
			c := &countClient{id: fmt.Sprintf("%d.%d", len(onA)+len(onB), n)}
			*list = append(*list, c)
			if err := h.Subscribe(ctx, app, c, "room", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	everyoneSees := func(want int) {
		t.Helper()
		clustertest.WaitFor(t, 20*time.Second, func() error {
			for _, c := range append(append([]*countClient{}, onA...), onB...) {
				if got, _ := c.last(); got != want {
					return fmt.Errorf("subscriber %s last saw %d, want %d", c.id, got, want)
				}
			}
			return nil
		})
	}
	join(a, &onA, 30)
	join(b, &onB, 20)
	everyoneSees(50)
	_, sentA := onA[0].last()
	if sentA >= 30+20 { // one update per join would be 50
		t.Fatalf("%d count updates for 50 joins: not coalesced", sentA)
	}

	// Everyone on A leaves: B's subscribers learn 20 from A's leaving.
	for _, c := range onA {
		a.Unsubscribe(ctx, app, c, "room", "")
	}
	onA = nil
	everyoneSees(20)
	for _, c := range onB[:5] {
		b.Unsubscribe(ctx, app, c, "room", "")
	}
	onB = onB[5:]
	join(a, &onA, 2)
	everyoneSees(17)
}
