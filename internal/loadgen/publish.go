package loadgen

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// publishOptions configure the REST publish scenario.
type publishOptions struct {
	Publishers  int           // concurrent keep-alive publishers; default 8
	Duration    time.Duration // default 10s
	MaxRequests int           // stop after this many requests; default 10,000,000
	Channel     string        // a channel nobody subscribes to; default "publish-nosubs"
	Size        int           // bytes of each event's data string; default 100
}

// runPublish sends signed POST /events requests to a channel without
// subscribers from Publishers goroutines for Duration.
func runPublish(ctx context.Context, o runOptions, po publishOptions) (*report, error) {
	o.setDefaults()
	po.Publishers = cmp.Or(po.Publishers, 8)
	po.Duration = cmp.Or(po.Duration, 10*time.Second)
	po.MaxRequests = cmp.Or(po.MaxRequests, 10_000_000)
	po.Channel = cmp.Or(po.Channel, "publish-nosubs")
	po.Size = cmp.Or(po.Size, 100)
	r := &report{}
	r.add("scenario", "publish")
	r.add("publishers", po.Publishers)
	r.add("size", po.Size)
	r.add("http_client", o.HTTP)

	rest := newRESTClient(o.Target, o.HTTP, o.AppID, o.Key, o.Secret, po.Publishers)
	defer rest.close()

	// One warm-up request per publisher opens the keep-alive connections
	// outside the measured window.
	posters := make([]poster, po.Publishers)
	for i := range posters {
		posters[i] = rest.poster()
		defer posters[i].close()
	}
	if err := warmUp(ctx, posters, po); err != nil {
		r.fail("warm-up publish: %v", err)
		return r, nil
	}
	var (
		budget   atomic.Int64
		mu       sync.Mutex
		hist     histogram
		ok, bad  int64
		firstErr error
		wg       sync.WaitGroup
	)
	budget.Store(int64(po.MaxRequests))
	mon := o.monitor()
	o.logf("publishing for %v with %d publishers", po.Duration, po.Publishers)
	a := mon.take()
	// No request starts after the deadline; requests in flight complete.
	deadline := a.at.Add(po.Duration)
	channels := []string{po.Channel}
	for _, p := range posters {
		wg.Go(func() {
			var h histogram
			var n, failed int64
			var first error
			var data, body []byte
			for ctx.Err() == nil && time.Now().Before(deadline) && budget.Add(-1) >= 0 {
				t0 := time.Now()
				data = benchData(data[:0], n, t0.UnixNano(), po.Size)
				body = eventBody(body[:0], "bench-event", channels, data)
				err := p.publish(ctx, body)
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted
					}
					failed++
					first = cmp.Or(first, err)
					continue
				}
				h.record(time.Since(t0))
				n++
			}
			mu.Lock()
			hist.merge(&h)
			ok += n
			bad += failed
			firstErr = cmp.Or(firstErr, first)
			mu.Unlock()
		})
	}
	wg.Wait()
	b := mon.take()
	wall := b.at.Sub(a.at)
	r.ms("duration_ms", wall)
	r.add("requests_ok", ok)
	r.add("requests_failed", bad)
	r.add("publishes_per_sec", round(float64(ok)/wall.Seconds(), 0))
	r.addLatency("request", &hist)
	r.addProc(a, b, "publish", ok+bad)
	if bad > 0 {
		r.fail("%d requests failed, first: %v", bad, firstErr)
	}
	return r, ctx.Err()
}

func warmUp(ctx context.Context, posters []poster, po publishOptions) error {
	errs := make(chan error, len(posters))
	for i, p := range posters {
		go func() {
			data := benchData(nil, int64(i), time.Now().UnixNano(), po.Size)
			errs <- p.publish(ctx, eventBody(nil, "bench-warmup", []string{po.Channel}, data))
		}()
	}
	var first error
	for range posters {
		first = cmp.Or(first, <-errs)
	}
	return first
}
