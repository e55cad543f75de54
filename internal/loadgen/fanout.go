package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// fanoutOptions configure the fan-out scenario.
type fanoutOptions struct {
	Subs       int           // subscribers; default 1000
	Events     int           // events published; default 1000
	Rate       float64       // events per second; 0 = flat out
	Size       int           // bytes of each event's data string; default 100
	Publishers int           // concurrent REST publishers; default 4
	Window     int           // flat out: events in flight (published, not yet delivered to all); default 50
	Channel    string        // default "fanout"
	Also       []string      // more channels every event is published to (one request)
	Event      string        // default "bench-event"
	Drain      time.Duration // give up when no delivery progress for this long; default 10s
}

// maxSeenBytes bounds the per-subscriber receipt bitmaps (subs×events bits).
const maxSeenBytes = 1 << 30

// fanoutRecv counts a subscriber's receipts per sequence number.
type fanoutRecv struct {
	events int64
	name   []byte
}

var dataKey = []byte(`"data"`)

func (f *fanoutRecv) onEvent(c *wsConn, name, msg []byte, now int64) {
	sh := c.sh
	if !bytes.Equal(name, f.name) {
		sh.other.Add(1)
		return
	}
	data := msg
	if i := bytes.Index(msg, dataKey); i >= 0 {
		data = msg[i+len(dataKey):]
	}
	seq, ok1 := jsonNumber(data, "seq")
	ts, ok2 := jsonNumber(data, "ts")
	if !ok1 || !ok2 || seq < 0 || seq >= f.events || c.seen == nil {
		sh.bad.Add(1)
		return
	}
	w, bit := seq>>6, uint64(1)<<(seq&63)
	if c.seen[w]&bit != 0 {
		sh.dups.Add(1)
		return
	}
	c.seen[w] |= bit
	sh.hist.record(time.Duration(now - ts))
	sh.lastRecv.Store(now)
	sh.delivered.Add(1)
}

type fanoutTotals struct{ delivered, dups, bad, other, lastRecv int64 }

func totals(e *engine) fanoutTotals {
	var t fanoutTotals
	for _, s := range e.allShards() {
		t.delivered += s.delivered.Load()
		t.dups += s.dups.Load()
		t.bad += s.bad.Load()
		t.other += s.other.Load()
		t.lastRecv = max(t.lastRecv, s.lastRecv.Load())
	}
	return t
}

// runFanout subscribes Subs connections to one channel, publishes Events
// events through the REST API and checks that every subscriber got every
// event exactly once, measuring trigger→receipt latency from the send time
// embedded in each event.
func runFanout(ctx context.Context, o runOptions, fo fanoutOptions) (*report, error) {
	o.setDefaults()
	fo.Subs = cmp.Or(fo.Subs, 1000)
	fo.Events = cmp.Or(fo.Events, 1000)
	fo.Size = cmp.Or(fo.Size, 100)
	fo.Publishers = cmp.Or(fo.Publishers, 4)
	fo.Window = cmp.Or(fo.Window, 50)
	fo.Channel = cmp.Or(fo.Channel, "fanout")
	fo.Event = cmp.Or(fo.Event, "bench-event")
	fo.Drain = cmp.Or(fo.Drain, 10*time.Second)
	words := (fo.Events + 63) / 64
	if int64(words)*8*int64(fo.Subs) > maxSeenBytes {
		return nil, fmt.Errorf("fanout: %d subs × %d events needs more than %d MB of receipt bitmaps", fo.Subs, fo.Events, maxSeenBytes>>20)
	}
	r := &report{}
	r.add("scenario", "fanout")
	r.add("subs", fo.Subs)
	r.add("events", fo.Events)
	r.add("rate", fo.Rate)
	r.add("size", fo.Size)
	r.add("publishers", fo.Publishers)
	r.add("http_client", o.HTTP)
	if fo.Rate == 0 {
		r.add("window", fo.Window)
	}

	recv := &fanoutRecv{events: int64(fo.Events), name: []byte(fo.Event)}
	e, err := newEngine(o.Loops, recv)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			e.stop()
		}
	}()
	prepare := func(c *wsConn) { c.seen = make([]uint64, words) }
	if err := connectPhase(ctx, &o, e, r, fo.Subs, func(int) string { return fo.Channel }, prepare); err != nil {
		return r, nil
	}
	subs := e.subscribed.Load()
	rest := newRESTClient(o.restTarget(), o.HTTP, o.AppID, o.Key, o.Secret, fo.Publishers)
	defer rest.close()

	mon := o.monitor()
	o.logf("publishing %d events to %d subscribers", fo.Events, subs)
	a := mon.take()
	pr := publishEvents(ctx, &o, fo, rest, e, subs)
	expected := pr.ok * subs
	waitDelivered(ctx, e, expected, fo.Drain)
	b := mon.take()
	e.stop()
	stopped = true
	addDeliveryFigures(r, e, pr, a, b, expected) // final, after the loops exited
	r.add("closed_by_server", e.unexpected.Load())
	r.add("pusher_errors", e.pusherErrors.Load())
	e.addKeepalive(r)
	if c := e.unexpected.Load(); c > 0 {
		r.fail("server closed %d subscribers (%s)", c, e.firstError())
	}
	if c := e.pusherErrors.Load(); c > 0 {
		r.fail("%d pusher:error events (%s)", c, e.firstError())
	}
	return r, ctx.Err()
}

// addDeliveryFigures adds the delivery, latency and server-cost figures of a
// stopped engine whose publishes started at sample a and ended by sample b.
func addDeliveryFigures(r *report, e *engine, pr *publishResult, a, b sample, expected int64) fanoutTotals {
	t := totals(e)
	var hist histogram
	for _, s := range e.allShards() {
		hist.merge(&s.hist)
	}
	var span time.Duration
	if t.lastRecv > 0 {
		span = time.Duration(t.lastRecv - a.at.UnixNano())
	}
	addFanoutFigures(r, pr, t, &hist, span, expected)
	r.addProc(a, b, "delivery", t.delivered)
	r.addRedis(a, b, pr.ok)
	return t
}

// addFanoutFigures adds the delivery figures and checks of a fan-out run.
func addFanoutFigures(r *report, pr *publishResult, t fanoutTotals, hist *histogram, span time.Duration, expected int64) {
	r.add("published", pr.ok)
	r.add("publish_errors", pr.failed)
	r.add("expected", expected)
	r.add("delivered", t.delivered)
	r.add("lost", max(expected-t.delivered, 0))
	r.add("duplicated", t.dups)
	r.add("unparsable", t.bad)
	r.add("other_events", t.other)
	r.ms("publish_phase_ms", pr.took)
	r.ms("delivery_span_ms", span)
	if span > 0 {
		r.add("deliveries_per_sec", round(float64(t.delivered)/span.Seconds(), 0))
		r.add("events_per_sec", round(float64(pr.ok)/span.Seconds(), 1))
	}
	r.addLatency("latency", hist)
	r.addLatency("publish_request", &pr.hist)
	if pr.failed > 0 {
		r.fail("%d publishes failed, first: %v", pr.failed, pr.firstErr)
	}
	if lost := expected - t.delivered; lost > 0 {
		r.fail("%d deliveries lost", lost)
	}
	if t.dups > 0 {
		r.fail("%d deliveries duplicated", t.dups)
	}
	if t.bad > 0 {
		r.fail("%d events could not be parsed", t.bad)
	}
}

// publishResult summarises the publishers.
type publishResult struct {
	ok, failed int64
	firstErr   error
	took       time.Duration
	hist       histogram // request latency
}

// publishEvents publishes fo.Events events with fo.Publishers goroutines,
// either paced at fo.Rate or flat out with at most fo.Window events in flight.
// It stops early if deliveries make no progress for fo.Drain.
func publishEvents(ctx context.Context, o *runOptions, fo fanoutOptions, rest *restClient, e *engine, subs int64) *publishResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seqs := make(chan int64, 1024)
	go schedule(ctx, seqs, fo, e, subs)

	channels := append([]string{fo.Channel}, fo.Also...)
	res := &publishResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range fo.Publishers {
		wg.Go(func() {
			var h histogram
			var data, body []byte
			var ok, failed int64
			var firstErr error
			p := rest.poster()
			defer p.close()
			for seq := range seqs {
				t0 := time.Now()
				data = benchData(data[:0], seq, t0.UnixNano(), fo.Size)
				body = eventBody(body[:0], fo.Event, channels, data)
				err := p.publish(ctx, body)
				h.record(time.Since(t0))
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, err)
					if errors.Is(err, context.Canceled) {
						break
					}
					continue
				}
				ok++
			}
			mu.Lock()
			res.ok += ok
			res.failed += failed
			res.firstErr = cmp.Or(res.firstErr, firstErr)
			res.hist.merge(&h)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	if ctx.Err() != nil && res.firstErr == nil {
		o.logf("publishing stopped: %v", context.Cause(ctx))
	}
	return res
}

// schedule feeds sequence numbers to the publishers: at fixed times when
// paced, else as fast as the in-flight window allows.
func schedule(ctx context.Context, seqs chan<- int64, fo fanoutOptions, e *engine, subs int64) {
	defer close(seqs)
	start := time.Now()
	lastProgress, lastDelivered := start, int64(-1)
	for seq := int64(0); seq < int64(fo.Events); seq++ {
		if fo.Rate > 0 {
			due := start.Add(time.Duration(float64(seq) / fo.Rate * float64(time.Second)))
			if sleepCtx(ctx, time.Until(due)) != nil {
				return
			}
		} else {
			for {
				d := totals(e).delivered
				if d >= (seq-int64(fo.Window))*subs {
					break
				}
				if d != lastDelivered {
					lastDelivered, lastProgress = d, time.Now()
				} else if time.Since(lastProgress) > fo.Drain {
					return // stalled: the report will show the loss
				}
				if sleepCtx(ctx, 100*time.Microsecond) != nil {
					return
				}
			}
		}
		select {
		case seqs <- seq:
		case <-ctx.Done():
			return
		}
	}
}

// waitDelivered polls until expected deliveries arrived or none arrived for
// drain.
func waitDelivered(ctx context.Context, e *engine, expected int64, drain time.Duration) {
	last, lastAt := int64(-1), time.Now()
	for {
		d := totals(e).delivered
		if d >= expected || ctx.Err() != nil {
			return
		}
		if d != last {
			last, lastAt = d, time.Now()
		} else if time.Since(lastAt) > drain {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
