package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// churnOptions configure the connect → subscribe → close scenario.
type churnOptions struct {
	Concurrency int           // connections in flight; default 64
	Duration    time.Duration // default 10s
	MaxCycles   int           // stop after this many cycles; default 10,000,000
	Channel     string        // default "churn"
	Channels    int           // spread cycles over this many channels (Channel-0 …); default 1 (Channel itself)
}

// runChurn repeats connect → connection_established → subscribe →
// subscription_succeeded → close from Concurrency goroutines for Duration.
//
// Unlike the long-lived scenarios this one does not use the event loop: each
// socket lives for one round trip of a synchronous handshake, and enrolling
// it would add a dup(2), an epoll registration and a cross-goroutine wake-up
// per cycle to the tool's cost. The goroutines are bounded by Concurrency, not
// by the number of sockets.
func runChurn(ctx context.Context, o runOptions, co churnOptions) (*report, error) {
	o.setDefaults()
	co.Concurrency = cmp.Or(co.Concurrency, 64)
	co.Duration = cmp.Or(co.Duration, 10*time.Second)
	co.MaxCycles = cmp.Or(co.MaxCycles, 10_000_000)
	co.Channel = cmp.Or(co.Channel, "churn")
	co.Channels = cmp.Or(co.Channels, 1)
	r := &report{}
	r.add("scenario", "churn")
	r.add("concurrency", co.Concurrency)
	r.add("channels", co.Channels)

	d := newDialer(o.Target, o.Key, o.ConnectTimeout)
	// No new cycle starts after the deadline; cycles in flight then run to
	// completion (bounded by ConnectTimeout) so a slow one counts as slow or
	// failed instead of vanishing.
	deadline := time.Now().Add(co.Duration)
	var (
		budget   atomic.Int64
		mu       sync.Mutex
		hist     histogram
		ok, bad  int64
		errKinds = map[string]int64{}
		wg       sync.WaitGroup
	)
	budget.Store(int64(co.MaxCycles))
	subs := make([][]byte, co.Channels)
	for i := range subs {
		subs[i] = subscribeMessage(co.Channel)
		if co.Channels > 1 {
			subs[i] = subscribeMessage(fmt.Sprintf("%s-%d", co.Channel, i))
		}
	}
	mon := o.monitor()
	o.logf("churning for %v with %d in flight", co.Duration, co.Concurrency)
	a := mon.take()
	for w := range co.Concurrency {
		wg.Go(func() {
			sub := subs[w%len(subs)]
			var h histogram
			var n, failed int64
			kinds := map[string]int64{}
			s := newSession(d)
			for ctx.Err() == nil && time.Now().Before(deadline) && budget.Add(-1) >= 0 {
				t0 := time.Now()
				if err := cycle(ctx, s, sub); err != nil {
					if ctx.Err() != nil {
						break // interrupted
					}
					failed++
					kinds[errKind(err)]++
					continue
				}
				h.record(time.Since(t0))
				n++
			}
			mu.Lock()
			hist.merge(&h)
			ok += n
			bad += failed
			for k, v := range kinds {
				errKinds[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	b := mon.take()
	wall := b.at.Sub(a.at)
	r.ms("duration_ms", wall)
	r.add("cycles_ok", ok)
	r.add("cycles_failed", bad)
	r.add("cycles_per_sec", round(float64(ok)/wall.Seconds(), 0))
	r.addLatency("cycle", &hist)
	r.addProc(a, b, "cycle", ok+bad)
	if bad > 0 {
		r.add("errors", errKinds)
		r.fail("%d cycles failed", bad)
	}
	return r, ctx.Err()
}

func cycle(ctx context.Context, s *session, sub []byte) error {
	if err := s.open(ctx); err != nil {
		return err
	}
	if err := s.write(opText, sub); err != nil {
		s.abort()
		return err
	}
	if err := s.expect(evSubscribed); err != nil {
		s.abort()
		return fmt.Errorf("subscribe: %w", err)
	}
	return s.closeGracefully()
}

// errKind reduces an error to a stable label for counting: its first
// (phase) and last (cause) parts, without the addresses in between, e.g.
// "dial: i/o timeout".
func errKind(err error) string {
	msg := err.Error()
	first, _, _ := strings.Cut(msg, ": ")
	last := msg[strings.LastIndex(msg, ": ")+2:]
	if first == msg {
		return msg
	}
	return first + ": " + last
}
