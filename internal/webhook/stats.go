package webhook

import (
	"context"
	"sync/atomic"
	"time"
)

// counters are the Sender's metrics; all fields are atomic.
type counters struct {
	queued      atomic.Int64              // events stored in the outbox
	sent        atomic.Int64              // requests answered 2xx
	sentEvents  atomic.Int64              // events in those requests
	failed      atomic.Int64              // attempts that failed
	retried     atomic.Int64              // attempts after a batch's first
	dead        atomic.Int64              // batches dead-lettered
	spilled     atomic.Int64              // events that found the queue full
	dropped     [dropReasons]atomic.Int64 // events lost, by reason
	pruned      atomic.Int64              // dead letters deleted past the retention
	suppressed  atomic.Int64              // vacate/occupy (remove/add) pairs cancelled by the hold
	latencySum  atomic.Int64              // ns, over successful requests
	latencyMax  atomic.Int64              // ns
	lastDropLog [dropReasons]atomic.Int64 // unix ns of the last "dropped" log line, by reason
	logged      atomic.Pointer[Stats]
}

// dropReason is why an event was lost before reaching the outbox.
type dropReason uint8

// Drop reasons, as the metric's reason label names them.
const (
	dropOutboxFull  dropReason = iota // MaxOutboxEvents reached
	dropQueueFull                     // queue and spill list full (the outbox is failing or too slow)
	dropClosed                        // observed during or after Close
	dropWriteFailed                   // the outbox refused them until shutdown
	dropReasons                       // count
)

// DropReasons returns the reason labels of Stats.DroppedBy, in its order.
func DropReasons() []string {
	out := make([]string, dropReasons)
	for r := range dropReasons {
		out[r] = r.String()
	}
	return out
}

func (r dropReason) String() string {
	switch r {
	case dropOutboxFull:
		return "outbox_full"
	case dropQueueFull:
		return "queue_full"
	case dropClosed:
		return "closed"
	}
	return "write_failed"
}

func (r dropReason) hint() string {
	switch r {
	case dropOutboxFull:
		return "the webhook outbox holds webhooks.max_outbox_events: a receiver is down or too slow " +
			"(pixiu webhooks status)"
	case dropQueueFull:
		return "the webhook outbox cannot keep up or cannot be written (disk full?)"
	}
	return ""
}

func (c *counters) observeLatency(d time.Duration) {
	c.latencySum.Add(int64(d))
	for {
		m := c.latencyMax.Load()
		if int64(d) <= m || c.latencyMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Stats are a Sender's counters since it started.
type Stats struct {
	Queued       int64 // events stored in the outbox
	Sent         int64 // requests delivered (2xx)
	SentEvents   int64 // events in delivered requests
	Failed       int64 // failed attempts (non-2xx, timeout, connection error)
	Retried      int64 // attempts that were retries
	DeadLettered int64 // batches moved to the dead letters
	Spilled      int64 // events that found the hand-off queue full
	Dropped      int64 // events lost before reaching the outbox (sum of DroppedBy)
	// DroppedBy splits Dropped by reason, in the order of DropReasons.
	DroppedBy    [dropReasons]int64
	Pruned       int64         // dead letters deleted past the retention
	OutboxEvents int64         // events waiting in the outbox (an estimate, recounted every JanitorInterval)
	Suppressed   int64         // vacate/occupy and remove/add pairs cancelled (protocol.md §7.3)
	LatencyMean  time.Duration // of delivered requests
	LatencyMax   time.Duration
}

// Stats returns the counters. Safe for concurrent use.
func (s *Sender) Stats() Stats {
	c := &s.stats
	st := Stats{
		Queued: c.queued.Load(), Sent: c.sent.Load(), SentEvents: c.sentEvents.Load(),
		Failed: c.failed.Load(), Retried: c.retried.Load(), DeadLettered: c.dead.Load(),
		Spilled: c.spilled.Load(), Suppressed: c.suppressed.Load(), Pruned: c.pruned.Load(),
		OutboxEvents: s.outboxEvents.Load(), LatencyMax: time.Duration(c.latencyMax.Load()),
	}
	for i := range c.dropped {
		st.DroppedBy[i] = c.dropped[i].Load()
		st.Dropped += st.DroppedBy[i]
	}
	if st.Sent > 0 {
		st.LatencyMean = time.Duration(c.latencySum.Load() / st.Sent)
	}
	return st
}

// OutboxAge returns how long the longest-waiting event in the outbox has
// waited (0 when none waits); it asks the outbox (one indexed query).
func (s *Sender) OutboxAge(ctx context.Context) (time.Duration, error) {
	t, err := s.opts.Outbox.Oldest(ctx)
	if err != nil || t.IsZero() {
		return 0, err
	}
	return max(0, time.Since(t)), nil
}

func (s *Sender) runStats() {
	t := time.NewTicker(s.opts.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.logStats()
		case <-s.statsStop:
			return
		}
	}
}

// logStats logs the counters if they changed since the last time.
func (s *Sender) logStats() {
	st := s.Stats()
	if last := s.stats.logged.Load(); (last == nil && st == Stats{}) || (last != nil && *last == st) {
		return
	}
	s.stats.logged.Store(&st)
	s.log.Info("webhook stats", "queued", st.Queued, "sent", st.Sent, "sent_events", st.SentEvents,
		"failed", st.Failed, "retried", st.Retried, "dead_lettered", st.DeadLettered,
		"spilled", st.Spilled, "dropped", st.Dropped, "suppressed", st.Suppressed,
		"pruned", st.Pruned, "outbox_events", st.OutboxEvents,
		"latency_mean", st.LatencyMean, "latency_max", st.LatencyMax)
}
