package webhook

import (
	"sync/atomic"
	"time"
)

// counters are the Sender's metrics; all fields are atomic.
type counters struct {
	queued      atomic.Int64 // events stored in the outbox
	sent        atomic.Int64 // requests answered 2xx
	sentEvents  atomic.Int64 // events in those requests
	failed      atomic.Int64 // attempts that failed
	retried     atomic.Int64 // attempts after a batch's first
	dead        atomic.Int64 // batches dead-lettered
	spilled     atomic.Int64 // events that found the queue full
	dropped     atomic.Int64 // events lost (queue and spill full, or after Close)
	suppressed  atomic.Int64 // vacate/occupy (remove/add) pairs cancelled by the hold
	latencySum  atomic.Int64 // ns, over successful requests
	latencyMax  atomic.Int64 // ns
	lastDropLog atomic.Int64 // unix ns of the last "dropped" log line
	logged      atomic.Pointer[Stats]
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
	Queued       int64         // events stored in the outbox
	Sent         int64         // requests delivered (2xx)
	SentEvents   int64         // events in delivered requests
	Failed       int64         // failed attempts (non-2xx, timeout, connection error)
	Retried      int64         // attempts that were retries
	DeadLettered int64         // batches moved to the dead letters
	Spilled      int64         // events that found the hand-off queue full
	Dropped      int64         // events lost before reaching the outbox
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
		Spilled: c.spilled.Load(), Dropped: c.dropped.Load(), Suppressed: c.suppressed.Load(),
		LatencyMax: time.Duration(c.latencyMax.Load()),
	}
	if st.Sent > 0 {
		st.LatencyMean = time.Duration(c.latencySum.Load() / st.Sent)
	}
	return st
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
		"latency_mean", st.LatencyMean, "latency_max", st.LatencyMax)
}
