package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// slowOptions configure the slow-consumer scenario.
type slowOptions struct {
	Slow      int           // subscribers that never read; default 2000
	Normal    int           // subscribers that read everything; default 10
	Bystander bool          // one more reading subscriber on another channel, published to in the same request
	Events    int           // events published; default 2000
	Rate      float64       // events per second; default 100
	Size      int           // bytes of each event's data; default 1000
	RcvBuf    int           // SO_RCVBUF of the slow sockets; default 4096
	Channel   string        // default "slow"
	After     time.Duration // after the slow clients are closed, watch RSS and descriptors this long; default 60s
	Recovered int64         // RSS counts as recovered within this many bytes of the start; default 50 MB
	Drain     time.Duration // give up on deliveries after no progress this long; default 10s
}

// slowSample is one reading of the server's RSS and open descriptors.
type slowSample struct {
	rss int64
	fds int
	err error
}

func takeSlowSample(pid int) slowSample {
	p, err := readProc(pid)
	if err != nil {
		return slowSample{err: err}
	}
	n, err := countFDs(pid)
	return slowSample{rss: p.RSS, fds: n, err: err}
}

// countFDs returns the number of open descriptors of process pid.
func countFDs(pid int) (int, error) {
	d, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("count server descriptors: %w", err)
	}
	return len(d), nil
}

// runSlow subscribes Normal reading connections (and a bystander on another
// channel), then Slow connections that complete the handshake, subscribe and
// never read again, publishes Events at Rate and checks that the reading
// subscribers lost nothing. It reports the server's RSS and descriptor count
// before the slow clients came, at their peak, and after they are gone.
func runSlow(ctx context.Context, o runOptions, so slowOptions) (*report, error) {
	o.setDefaults()
	so.Slow = cmp.Or(so.Slow, 2000)
	so.Normal = cmp.Or(so.Normal, 10)
	so.Events = cmp.Or(so.Events, 2000)
	so.Rate = cmp.Or(so.Rate, 100)
	so.Size = cmp.Or(so.Size, 1000)
	so.RcvBuf = cmp.Or(so.RcvBuf, 4096)
	so.Channel = cmp.Or(so.Channel, "slow")
	so.After = cmp.Or(so.After, 60*time.Second)
	so.Recovered = cmp.Or(so.Recovered, 50<<20)
	so.Drain = cmp.Or(so.Drain, 10*time.Second)
	if o.ServerPID <= 0 {
		return nil, fmt.Errorf("slow: --server-pid is required (RSS and descriptors are the result)")
	}
	readers := so.Normal
	fo := fanoutOptions{Subs: so.Normal, Events: so.Events, Rate: so.Rate, Size: so.Size,
		Publishers: 4, Channel: so.Channel, Event: "bench-event", Drain: so.Drain}
	bystander := so.Channel + "-bystander"
	if so.Bystander {
		readers++
		fo.Also = []string{bystander}
	}
	r := &report{}
	r.add("scenario", "slow")
	r.add("slow", so.Slow)
	r.add("normal", so.Normal)
	r.add("bystander", so.Bystander)
	r.add("events", so.Events)
	r.add("rate", so.Rate)
	r.add("size", so.Size)
	r.add("slow_rcvbuf", so.RcvBuf)

	start := takeSlowSample(o.ServerPID)
	if start.err != nil {
		return nil, start.err
	}
	recv := &fanoutRecv{events: int64(so.Events), name: []byte(fo.Event)}
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
	words := (so.Events + 63) / 64
	prepare := func(c *wsConn) { c.seen = make([]uint64, words) }
	channel := func(i int) string {
		if i >= so.Normal {
			return bystander
		}
		return so.Channel
	}
	if err := connectPhase(ctx, &o, e, r, readers, channel, prepare); err != nil {
		return r, nil
	}

	before := takeSlowSample(o.ServerPID)
	peak := newPeakWatcher(o.ServerPID, before)
	defer peak.stop()

	o.logf("connecting %d slow consumers (SO_RCVBUF %d, never read)", so.Slow, so.RcvBuf)
	d := newDialer(o.Target, o.Key, o.ConnectTimeout)
	d.rcvBuf = so.RcvBuf
	slow, errs := dialSlow(ctx, d, so.Slow, o.DialWorkers, so.Channel)
	defer closeAll(slow)
	r.add("slow_connected", len(slow))
	if len(errs) > 0 {
		r.fail("%d slow connections failed, first: %v", len(errs), errs[0])
	}

	rest := newRESTClient(o.Target, o.HTTP, o.AppID, o.Key, o.Secret, fo.Publishers)
	restClosed := false
	defer func() {
		if !restClosed {
			rest.close()
		}
	}()
	o.logf("publishing %d events of %d bytes at %.0f/s", so.Events, so.Size, so.Rate)
	mon := o.monitor()
	a := mon.take()
	subs := e.subscribed.Load()
	pr := publishEvents(ctx, &o, fo, rest, e, subs)
	expected := pr.ok * subs
	waitDelivered(ctx, e, expected, so.Drain)
	b := mon.take()

	rest.close() // its sockets were not there before either
	restClosed = true
	o.logf("closing the slow consumers; watching the server for %v", so.After)
	closeAll(slow)
	slow = nil
	closedAt := time.Now()
	after, rssBack, fdsBack := watchRecovery(ctx, o.ServerPID, before, so.After, so.Recovered, peak)
	pk := peak.stop()

	e.stop()
	stopped = true
	addDeliveryFigures(r, e, pr, a, b, expected)
	r.add("server_rss_start_kb", start.rss>>10)
	r.add("server_rss_before_slow_kb", before.rss>>10)
	r.add("server_rss_peak_kb", pk.rss>>10)
	r.add("server_rss_growth_peak_mb", round(float64(pk.rss-before.rss)/(1<<20), 1))
	r.add("server_rss_after_kb", after.rss>>10)
	r.add("server_rss_growth_after_mb", round(float64(after.rss-before.rss)/(1<<20), 1))
	r.add("server_fds_before_slow", before.fds)
	r.add("server_fds_peak", pk.fds)
	r.add("server_fds_after", after.fds)
	addRecovery(r, "rss_recovered_sec", rssBack, closedAt)
	addRecovery(r, "fds_recovered_sec", fdsBack, closedAt)
	r.add("closed_by_server", e.unexpected.Load())
	r.add("pusher_errors", e.pusherErrors.Load())
	if c := e.unexpected.Load(); c > 0 {
		r.fail("server closed %d reading subscribers (%s)", c, e.firstError())
	}
	if c := e.pusherErrors.Load(); c > 0 {
		r.fail("%d pusher:error events to reading subscribers (%s)", c, e.firstError())
	}
	if after.fds > before.fds {
		r.fail("%d descriptors still open %v after the slow consumers left", after.fds-before.fds, so.After)
	}
	return r, ctx.Err()
}

func addRecovery(r *report, name string, at, from time.Time) {
	if at.IsZero() {
		r.add(name, "never")
		return
	}
	r.add(name, round(max(at.Sub(from), 0).Seconds(), 1))
}

// dialSlow opens n subscribed connections that are never read after
// subscription_succeeded.
func dialSlow(ctx context.Context, d *dialer, n, workers int, channel string) ([]net.Conn, []error) {
	var (
		mu    sync.Mutex
		conns []net.Conn
		errs  []error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			s := newSession(d)
			for ctx.Err() == nil {
				if next.Add(1) > int64(n) {
					return
				}
				err := s.open(ctx)
				if err == nil {
					if err = s.write(opText, subscribeMessage(channel)); err == nil {
						err = s.expect(evSubscribed)
					}
					if err != nil {
						s.abort()
					}
				}
				mu.Lock()
				if err != nil {
					if errs = append(errs, err); len(errs) > max(n/100, 10) {
						next.Store(int64(n))
					}
				} else {
					_ = s.conn.SetDeadline(time.Time{})
					conns = append(conns, s.conn)
					s.release()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns, errs
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// peakWatcher samples the server every 100 ms and keeps the largest RSS and
// descriptor count.
type peakWatcher struct {
	pid  int
	mu   sync.Mutex
	peak slowSample // guarded by mu
	once sync.Once
	quit chan struct{}
	done chan struct{}
}

func newPeakWatcher(pid int, first slowSample) *peakWatcher {
	w := &peakWatcher{pid: pid, peak: first, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-tick.C:
				w.note(takeSlowSample(pid))
			}
		}
	}()
	return w
}

func (w *peakWatcher) note(s slowSample) {
	if s.err != nil {
		return
	}
	w.mu.Lock()
	w.peak.rss = max(w.peak.rss, s.rss)
	w.peak.fds = max(w.peak.fds, s.fds)
	w.mu.Unlock()
}

// stop ends the sampling and returns the peak.
func (w *peakWatcher) stop() slowSample {
	w.once.Do(func() { close(w.quit) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// watchRecovery polls the server until its RSS is within slack of before's
// and its descriptors are back to before's count, or for at most d. It
// returns the last sample and when each recovered (zero if it did not).
func watchRecovery(ctx context.Context, pid int, before slowSample, d time.Duration, slack int64, peak *peakWatcher) (last slowSample, rssAt, fdsAt time.Time) {
	deadline := time.Now().Add(d)
	for {
		s := takeSlowSample(pid)
		if s.err == nil {
			peak.note(s)
			last = s
			now := time.Now()
			if rssAt.IsZero() && s.rss-before.rss <= slack {
				rssAt = now
			}
			if fdsAt.IsZero() && s.fds <= before.fds {
				fdsAt = now
			}
		}
		if (!rssAt.IsZero() && !fdsAt.IsZero()) || time.Now().After(deadline) || sleepCtx(ctx, 250*time.Millisecond) != nil {
			return last, rssAt, fdsAt
		}
	}
}
