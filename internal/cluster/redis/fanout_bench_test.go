package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// counter is a hub.Client that counts frames; a probe also records the
// publish → delivery latency carried in the data (unix nanos).
type counter struct {
	id    string
	n     *atomic.Int64
	probe *latencies
}

func (c *counter) SocketID() string                          { return c.id }
func (c *counter) Close(*protocol.Error)                     {}
func (c *counter) SendTracked(frame []byte, _ *hub.Delivery) { c.Send(frame) }

func (c *counter) Send(frame []byte) {
	c.n.Add(1)
	if c.probe == nil {
		return
	}
	i := bytes.Index(frame, []byte(`"data":"`))
	if i < 0 {
		return
	}
	rest := frame[i+8:]
	j := bytes.IndexByte(rest, '"')
	ts, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err == nil {
		c.probe.add(time.Duration(time.Now().UnixNano() - ts))
	}
}

type latencies struct {
	mu   sync.Mutex
	list []time.Duration
	seen atomic.Int64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.list = append(l.list, d)
	l.mu.Unlock()
	l.seen.Add(1)
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) == 0 {
		return 0
	}
	s := slices.Clone(l.list)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func newHub(b *testing.B, url, prefix string) *hub.Hub {
	b.Helper()
	h, err := hub.New(hub.Options{}, func(d cluster.Handler) (cluster.Engine, error) {
		return redis.New(redis.Options{URL: url, KeyPrefix: prefix}, d)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Engine().Close() })
	clustertest.WaitFor(b, 10*time.Second, h.Engine().Ready)
	return h
}

// BenchmarkCrossNodeFanout publishes on node A (hub.Publish, as the REST
// API does) to one channel with subs subscribers on each of nodes B and C.
// It reports deliveries per second and the publish → delivery latency
// (p50/p99) seen by one subscriber per node. Up to four publishers keep
// about window events in flight: 256 measures throughput (latency then
// includes queueing), 1 the latency of an idle path.
func BenchmarkCrossNodeFanout(b *testing.B) {
	url := testURL()
	requireRedis(b, url)
	for _, tc := range []struct{ subs, window int }{{1, 256}, {100, 256}, {1000, 256}, {1, 1}, {1000, 1}} {
		subs, window := tc.subs, int64(tc.window)
		b.Run(fmt.Sprintf("subs=%dx2/window=%d", subs, window), func(b *testing.B) {
			prefix := testPrefix(b, url)
			pub := newHub(b, url, prefix)
			app := &apps.App{ID: "bench", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true}}
			var delivered atomic.Int64
			var probes []*latencies
			for node := range 2 {
				h := newHub(b, url, prefix)
				lat := &latencies{}
				probes = append(probes, lat)
				for i := range subs {
					c := &counter{id: fmt.Sprintf("%d.%d", node, i), n: &delivered}
					if i == 0 {
						c.probe = lat
					}
					if err := h.Subscribe(context.Background(), app, c, "fan", nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			delivered.Store(0)
			var sent, published atomic.Int64
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range min(4, window) {
				wg.Go(func() {
					for sent.Add(1) <= int64(b.N) {
						for published.Load()-probes[0].seen.Load() >= window {
							time.Sleep(20 * time.Microsecond)
						}
						ts := strconv.FormatInt(time.Now().UnixNano(), 10)
						if err := pub.Publish(ctx, app.ID, []string{"fan"}, "tick", ts, ""); err != nil {
							b.Error(err)
							return
						}
						published.Add(1)
					}
				})
			}
			wg.Wait()
			want := int64(b.N) * int64(subs) * 2
			clustertest.WaitFor(b, 60*time.Second, func() error {
				if got := delivered.Load(); got < want {
					return fmt.Errorf("%d of %d deliveries", got, want)
				}
				return nil
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if got := delivered.Load(); got != want {
				b.Fatalf("%d deliveries, want exactly %d", got, want)
			}
			all := &latencies{}
			for _, p := range probes {
				all.list = append(all.list, p.list...)
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(all.quantile(0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(all.quantile(0.99).Microseconds()), "p99-µs")
		})
	}
}
