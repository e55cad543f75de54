package hub

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// benchClient copies frames into a reused buffer, as a transport would.
type benchClient struct {
	id  string
	mu  sync.Mutex
	buf []byte
	n   atomic.Int64
}

func (c *benchClient) SocketID() string { return c.id }
func (c *benchClient) Send(f []byte) {
	c.mu.Lock()
	c.buf = append(c.buf[:0], f...)
	c.mu.Unlock()
	c.n.Add(1)
}
func (c *benchClient) Close(*protocol.Error)             {}
func (c *benchClient) SendTracked(f []byte, _ *Delivery) { c.Send(f) }

func newBenchHub(b *testing.B) *Hub {
	h, err := New(Options{}, func(d cluster.Handler) (cluster.Engine, error) { return memory.New(d), nil })
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkFanout(b *testing.B) {
	app := &apps.App{ID: "a", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true}}
	data := `{"price":"` + "12345678901234567890123456789012345678901234567890123456789012345678901234" + `"}`
	for _, subs := range []int{1, 100, 10000} {
		b.Run(strconv.Itoa(subs), func(b *testing.B) {
			h := newBenchHub(b)
			ctx := context.Background()
			for i := 0; i < subs; i++ {
				if err := h.Subscribe(ctx, app, &benchClient{id: "1." + strconv.Itoa(i)}, "price_channel", nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Publish(ctx, app.ID, []string{"price_channel"}, "update", data, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
		})
	}
}

func BenchmarkSubscribeUnsubscribeParallel(b *testing.B) {
	app := &apps.App{ID: "a", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true}}
	h := newBenchHub(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &benchClient{id: "1." + strconv.FormatInt(next.Add(1), 10)}
		ch := "chan-" + c.id
		for pb.Next() {
			if err := h.Subscribe(ctx, app, c, ch, nil); err != nil {
				b.Fatal(err)
			}
			h.Unsubscribe(ctx, app, c, ch, "")
		}
	})
}
