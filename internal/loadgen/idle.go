package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// idleOptions configure the idle scenario.
type idleOptions struct {
	Conns    int           // connections; default 1000
	Channels int           // public channels the connections are spread over; default 1
	Channel  string        // channel name prefix; default "idle"
	Settle   time.Duration // wait after the last subscription before reading RSS; default 2s, and on while counts arrive (settleCounts)
	Hold     time.Duration // then hold the connections open; default 10s
}

// runIdle opens Conns subscribed connections, measures the server's RSS per
// connection, holds them for Hold and closes them.
func runIdle(ctx context.Context, o runOptions, io idleOptions) (*report, error) {
	o.setDefaults()
	io.Conns = cmp.Or(io.Conns, 1000)
	io.Channels = cmp.Or(io.Channels, 1)
	io.Settle = cmp.Or(io.Settle, 2*time.Second)
	io.Hold = cmp.Or(io.Hold, 10*time.Second)
	if io.Channel == "" {
		io.Channel = "idle"
	}
	r := &report{}
	r.add("scenario", "idle")
	r.add("conns", io.Conns)
	r.add("channels", io.Channels)

	mon := o.monitor()
	base := mon.take()
	if base.err != nil {
		return nil, base.err
	}
	e, err := newEngine(o.Loops, nil)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	channel := func(i int) string { return io.Channel }
	if io.Channels > 1 {
		channel = func(i int) string { return fmt.Sprintf("%s-%d", io.Channel, i%io.Channels) }
	}
	if err := connectPhase(ctx, &o, e, r, io.Conns, channel, nil); err != nil {
		return r, nil
	}
	_ = sleepCtx(ctx, io.Settle)
	settleCounts(ctx, e)
	after := mon.take()
	n := e.subscribed.Load()
	if len(mon.pids) > 0 && n > 0 {
		r.add("server_rss_before_kb", base.server.RSS>>10)
		r.add("server_rss_after_kb", after.server.RSS>>10)
		r.add("server_rss_per_conn_kb", round(float64(after.server.RSS-base.server.RSS)/1024/float64(n), 3))
		// Connecting and settling: includes work a server defers past the
		// last subscription_succeeded (coalesced subscription counts).
		r.add("server_cpu_ms_to_settled", round(float64(after.server.CPU-base.server.CPU)/1e6, 1))
	}
	o.logf("holding %d sockets for %v", n, io.Hold)
	_ = sleepCtx(ctx, io.Hold)
	end := mon.take()
	if len(mon.pids) > 0 && n > 0 {
		r.add("server_rss_after_hold_kb", end.server.RSS>>10)
		r.add("server_rss_per_conn_after_hold_kb", round(float64(end.server.RSS-base.server.RSS)/1024/float64(n), 3))
		r.add("server_cpu_ms_during_hold", round(float64(end.server.CPU-after.server.CPU)/1e6, 1))
	}
	r.add("tool_cpu_ms", round(float64(end.self-base.self)/1e6, 1))
	r.add("open_at_end", e.open.Load())
	r.add("closed_by_server", e.unexpected.Load())
	r.add("pusher_errors", e.pusherErrors.Load())
	r.add("subscription_count_frames", e.countFrames.Load())
	e.addKeepalive(r)
	if c := e.unexpected.Load(); c > 0 {
		r.fail("server closed %d idle connections (%s)", c, e.firstError())
	}
	if c := e.pusherErrors.Load(); c > 0 {
		r.fail("%d pusher:error events (%s)", c, e.firstError())
	}
	return r, ctx.Err()
}

// countsQuiet and countsSettleMax bound settleCounts.
const (
	countsQuiet     = time.Second
	countsSettleMax = 10 * time.Second
)

// settleCounts waits, after Settle, until no subscription count has arrived
// for countsQuiet (at most countsSettleMax), so that the CPU "to settled"
// includes the count updates a server defers past the storm. A server that
// sends a trailing update later than that after a quiet second needs a
// longer --settle (Pusher's cadence is 5 s).
func settleCounts(ctx context.Context, e *engine) {
	deadline := time.Now().Add(countsSettleMax)
	for time.Now().Before(deadline) {
		last := e.lastCount.Load()
		if last == 0 || time.Since(time.Unix(0, last)) >= countsQuiet {
			return
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}
