package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/store"
)

// Store persists hourly counts; *store.Store implements it.
type Store interface {
	AddUsage(ctx context.Context, deltas []store.UsageDelta) error
	UsageTotals(ctx context.Context, since time.Time) (map[string]store.UsageTotal, error)
	Usage(ctx context.Context, appID string, since time.Time) ([]store.UsageHour, error)
	PruneUsage(ctx context.Context, before time.Time) error
}

var _ Store = (*store.Store)(nil)

// Options configure a Counter. Zero values mean the documented default.
type Options struct {
	Store Store        // required
	Log   *slog.Logger // default: discard
	// FlushInterval is how often counts are written to the store and the
	// day's totals read back (default 5s). Negative disables the background
	// flusher: tests then call Flush.
	FlushInterval time.Duration
	// Retention is how long hourly rows are kept (default 35 days).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// QuotaError is returned by Admit when a publish would exceed the app's
// daily message quota.
type QuotaError struct {
	AppID string
	Quota int64 // messages per UTC day
	Used  int64 // messages counted today
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("usage: app %s is over its daily message quota (%d of %d used today)", e.AppID, e.Used, e.Quota)
}

// appCounter is one app's counts. Messages today = max(base, shared) +
// inflight + pending.
type appCounter struct {
	pending    atomic.Int64 // counted and not yet handed to the store
	inflight   atomic.Int64 // being written by Flush
	base       atomic.Int64 // today's messages in the store (all nodes with a shared store), as of the last flush
	basePeak   atomic.Int64 // today's largest hourly peak in the store
	shared     atomic.Int64 // today's messages in the cluster's tally (all nodes), as of the last flush
	sharedPeak atomic.Int64 // today's cluster-wide peak in the tally
	conns      atomic.Int64 // open connections on this node
	peakHour   atomic.Int64 // largest conns since the current hour began
	peakDay    atomic.Int64 // largest conns since the current day began (this process)

	writtenPeak int64 // peakHour last written; guarded by Counter.flushMu
	unshared    int64 // written to the store, not yet to the tally; guarded by Counter.flushMu
}

// used is the app's messages today as known here.
func (a *appCounter) used() int64 {
	return max(a.base.Load(), a.shared.Load()) + a.inflight.Load() + a.pending.Load()
}

// Counter counts usage. It is safe for concurrent use.
type Counter struct {
	opts Options
	log  *slog.Logger
	apps sync.Map // appID → *appCounter

	flushMu sync.Mutex   // serializes Flush
	hour    time.Time    // the hour pending counts belong to; guarded by flushMu
	day     time.Time    // the current UTC day; guarded by flushMu
	dayUnix atomic.Int64 // day, for readers that must not wait for a flush
	tally   atomic.Pointer[tallyRef]
	// tallyFailing is whether the last share failed; guarded by flushMu.
	tallyFailing bool

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New loads today's totals from the store and starts the flusher. Call Close
// to stop it and write what is pending.
func New(ctx context.Context, opts Options) (*Counter, error) {
	if opts.Store == nil {
		return nil, errors.New("usage: Store is required")
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 5 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 35 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c := &Counter{opts: opts, log: opts.Log.With("component", "usage"), stop: make(chan struct{})}
	now := opts.Now().UTC()
	c.hour, c.day = now.Truncate(time.Hour), dayOf(now)
	c.dayUnix.Store(c.day.Unix())
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	if err := opts.Store.PruneUsage(ctx, now.Add(-opts.Retention)); err != nil {
		return nil, err
	}
	if opts.FlushInterval > 0 {
		c.wg.Add(1)
		go c.run()
	}
	return c, nil
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (c *Counter) get(appID string) *appCounter {
	if v, ok := c.apps.Load(appID); ok {
		return v.(*appCounter)
	}
	v, _ := c.apps.LoadOrStore(appID, new(appCounter))
	return v.(*appCounter)
}

// Add counts n messages for the app: deliveries to sockets, webhook calls.
// It never blocks and never refuses (quotas only stop REST publishes).
func (c *Counter) Add(appID string, n int64) {
	c.get(appID).pending.Add(n)
}

// Admit counts n messages of a REST publish unless that would take the app
// past quota (0 = unlimited), in which case it returns a *QuotaError and
// counts nothing.
func (c *Counter) Admit(appID string, quota, n int64) error {
	a := c.get(appID)
	if quota <= 0 {
		a.pending.Add(n)
		return nil
	}
	for {
		p := a.pending.Load()
		used := max(a.base.Load(), a.shared.Load()) + a.inflight.Load() + p
		if used+n > quota {
			return &QuotaError{AppID: appID, Quota: quota, Used: used}
		}
		if a.pending.CompareAndSwap(p, p+n) {
			return nil
		}
	}
}

// Connected records a new connection of the app on this node.
func (c *Counter) Connected(appID string) {
	a := c.get(appID)
	n := a.conns.Add(1)
	raise(&a.peakHour, n)
	raise(&a.peakDay, n)
}

// Disconnected records a closed connection of the app on this node.
func (c *Counter) Disconnected(appID string) {
	c.get(appID).conns.Add(-1)
}

func raise(p *atomic.Int64, n int64) {
	for {
		cur := p.Load()
		if n <= cur || p.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Forget drops the counts of a deleted app.
func (c *Counter) Forget(appID string) { c.apps.Delete(appID) }

type tallyRef struct{ t cluster.Tally }

// SetTally makes the counts cluster-wide through the engine's tally (the
// Redis engine's): each flush adds this node's messages to it and reads back
// every node's, so that quotas and Stats count the whole cluster whatever
// the store; Stats' connections are every node's. Call it once, at start.
func (c *Counter) SetTally(t cluster.Tally) {
	if t != nil {
		c.tally.Store(&tallyRef{t})
	}
}

// Stats are an app's figures for today (UTC).
type Stats struct {
	Day         time.Time // start of the UTC day
	Messages    int64     // messages counted today, all nodes (as of the last flush) plus this node's since
	Connections int64     // open connections, all nodes (as of the last exchange) with a tally, else this node's
	PeakToday   int64     // largest number of concurrent connections today
	// Nodes are the connections of each node (node id → count) with a
	// tally, nil without.
	Nodes map[string]int64
	// ClusterWide is whether Messages and PeakToday count every node of a
	// cluster (a tally); without one they count what the store holds.
	ClusterWide   bool
	FlushInterval time.Duration
}

// Stats returns the app's figures for today.
func (c *Counter) Stats(appID string) Stats {
	a := c.get(appID)
	st := Stats{
		Day:           time.Unix(c.dayUnix.Load(), 0).UTC(),
		Messages:      a.used(),
		Connections:   a.conns.Load(),
		PeakToday:     max(a.basePeak.Load(), a.peakDay.Load(), a.sharedPeak.Load()),
		FlushInterval: c.opts.FlushInterval,
	}
	if r := c.tally.Load(); r != nil {
		st.Nodes, st.Connections, st.ClusterWide = r.t.ConnectionsByNode(appID), 0, true
		for _, n := range st.Nodes {
			st.Connections += n
		}
		st.PeakToday = max(st.PeakToday, st.Connections)
	}
	return st
}

// History returns the app's last n hours, oldest first, the current hour
// last; hours without traffic are zero. The current hour includes what this
// node has not flushed yet.
func (c *Counter) History(ctx context.Context, appID string, n int) ([]store.UsageHour, error) {
	now := c.opts.Now().UTC().Truncate(time.Hour)
	since := now.Add(-time.Duration(n-1) * time.Hour)
	rows, err := c.opts.Store.Usage(ctx, appID, since)
	if err != nil {
		return nil, err
	}
	out := make([]store.UsageHour, n)
	for i := range out {
		out[i].Hour = since.Add(time.Duration(i) * time.Hour)
	}
	for _, r := range rows {
		if i := int(r.Hour.Sub(since) / time.Hour); i >= 0 && i < n {
			out[i].Messages, out[i].Peak = r.Messages, r.Peak
		}
	}
	if r := c.tally.Load(); r != nil {
		// The cluster's hours; the store's hold this node's (SQLite) or
		// every node's (PostgreSQL): the larger is the better count.
		hours, err := r.t.TallyHours(ctx, appID, since, n)
		if err != nil {
			c.log.Debug("usage history without the cluster tally", "err", err)
		}
		for i := range hours {
			if i < n {
				out[i].Messages = max(out[i].Messages, hours[i].Messages)
				out[i].Peak = max(out[i].Peak, hours[i].Peak)
			}
		}
	}
	a := c.get(appID)
	last := &out[n-1]
	last.Messages += a.pending.Load() + a.inflight.Load()
	last.Peak = max(last.Peak, a.peakHour.Load())
	return out, nil
}
