package webhook

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// scheduler delivers each lane's batches one at a time, oldest first, with
// at most Concurrency requests in flight over all lanes. Its state is owned
// by the scheduler goroutine, except the dirty set (guarded by dirtyMu),
// through which the writer and Replay report lanes with new batches.
type scheduler struct {
	lanes    map[Lane]*lane // owned by runScheduler
	due      laneHeap       // lanes with a head, not in flight, by due time
	inflight int
	limit    int

	results chan result
	flushc  chan chan struct{}
	waiters []chan struct{} // flush requests waiting for idleness

	dirtyMu  sync.Mutex
	dirty    map[Lane]struct{} // guarded by dirtyMu
	rescan   bool              // guarded by dirtyMu: reload every lane from the outbox
	dirtyRdy chan struct{}
}

// lane is one (app, URL) queue as the scheduler sees it: only its oldest
// pending batch is in memory.
type lane struct {
	key   Lane
	head  *Batch    // nil: no pending batch known
	busy  bool      // head is being attempted
	down  bool      // the last attempt failed
	fail  time.Time // when the last failed attempt ended (with down)
	due   time.Time // when head may be attempted
	index int       // in scheduler.due, -1 when absent
}

type result struct {
	lane     Lane
	state    State // 0 when the attempt was abandoned (shutting down)
	attempts int
	nextAt   time.Time
	failed   bool  // the request was made and failed
	storeErr error // the outcome could not be recorded
}

func (sc *scheduler) init(limit int) {
	sc.lanes = make(map[Lane]*lane)
	sc.limit = limit
	sc.results = make(chan result, limit)
	sc.flushc = make(chan chan struct{})
	sc.dirty = make(map[Lane]struct{})
	sc.dirtyRdy = make(chan struct{}, 1)
}

// markDirty reports lanes that have new pending batches. Safe for concurrent use.
func (sc *scheduler) markDirty(lanes []Lane) {
	sc.dirtyMu.Lock()
	for _, l := range lanes {
		sc.dirty[l] = struct{}{}
	}
	sc.dirtyMu.Unlock()
	sc.signal()
}

// rescanSoon asks for every lane to be reloaded from the outbox.
func (sc *scheduler) rescanSoon() {
	sc.dirtyMu.Lock()
	sc.rescan = true
	sc.dirtyMu.Unlock()
	sc.signal()
}

func (sc *scheduler) signal() {
	select {
	case sc.dirtyRdy <- struct{}{}:
	default:
	}
}

// flush waits until nothing is in flight or due now, or for at most d.
func (sc *scheduler) flush(d time.Duration) {
	done := make(chan struct{})
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case sc.flushc <- done:
	case <-t.C:
		return
	}
	select {
	case <-done:
	case <-t.C:
	}
}

func (s *Sender) runScheduler() {
	defer close(s.schedDone)
	sc := &s.sched
	s.rescan(true)
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		s.dispatchDue(now)
		if len(sc.waiters) > 0 && sc.idle(now) {
			for _, w := range sc.waiters {
				close(w)
			}
			sc.waiters = nil
		}
		wait := time.Hour
		if sc.due.Len() > 0 && sc.inflight < sc.limit {
			wait = max(time.Until(sc.due[0].due), 0)
		}
		t.Reset(wait)
		select {
		case <-sc.dirtyRdy:
			s.loadDirty()
		case r := <-sc.results:
			s.settled(r)
		case <-t.C:
		case <-poll.C:
			s.rescan(false)
		case w := <-sc.flushc:
			sc.waiters = append(sc.waiters, w)
		case <-s.ctx.Done():
			return
		}
	}
}

// idle reports whether nothing is in flight, due now or waiting to be loaded.
func (sc *scheduler) idle(now time.Time) bool {
	sc.dirtyMu.Lock()
	pending := len(sc.dirty) > 0 || sc.rescan
	sc.dirtyMu.Unlock()
	return !pending && sc.inflight == 0 && (sc.due.Len() == 0 || sc.due[0].due.After(now))
}

// rescan loads every lane of the outbox that the scheduler has no head
// for. At start (first), heads are due at once: a restart retries every
// pending endpoint immediately.
func (s *Sender) rescan(first bool) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	list, err := s.opts.Outbox.Lanes(ctx)
	if err != nil {
		s.storeError("webhook outbox: list lanes", err)
		return
	}
	for _, k := range list {
		s.loadLane(ctx, k, first)
	}
}

func (s *Sender) loadDirty() {
	sc := &s.sched
	sc.dirtyMu.Lock()
	dirty, all := sc.dirty, sc.rescan
	sc.dirty, sc.rescan = make(map[Lane]struct{}), false
	sc.dirtyMu.Unlock()
	if all {
		s.rescan(false)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	for k := range dirty {
		s.loadLane(ctx, k, false)
	}
}

// loadLane loads the head of lane k unless it already has one.
func (s *Sender) loadLane(ctx context.Context, k Lane, now bool) {
	sc := &s.sched
	l := sc.lanes[k]
	if l == nil {
		l = &lane{key: k, index: -1}
		sc.lanes[k] = l
	}
	if l.busy || l.head != nil {
		return
	}
	b, err := s.opts.Outbox.Head(ctx, k)
	if err != nil {
		s.storeError("webhook outbox: load batch", err, "app_id", k.AppID, "url", k.URL)
		return // the next poll tries again
	}
	if b == nil {
		delete(sc.lanes, k)
		return
	}
	l.head, l.due = b, b.NextAt
	if now {
		l.due = time.Now()
	}
	heap.Push(&sc.due, l)
}

// dispatchDue starts the attempts that are due, within the concurrency limit.
func (s *Sender) dispatchDue(now time.Time) {
	sc := &s.sched
	for sc.due.Len() > 0 && sc.inflight < sc.limit && !sc.due[0].due.After(now) {
		l := heap.Pop(&sc.due).(*lane)
		l.busy = true
		sc.inflight++
		s.attempts.Add(1)
		// Only a batch that was already queued when the lane failed has
		// waited behind failing batches: one created (or replayed) since
		// gets a real attempt.
		go s.attempt(l.key, l.head, l.down && l.fail.After(l.head.Created))
	}
}

// settled applies the outcome of an attempt.
func (s *Sender) settled(r result) {
	sc := &s.sched
	sc.inflight--
	l := sc.lanes[r.lane]
	l.busy = false
	if r.failed {
		l.down, l.fail = true, time.Now()
	}
	switch {
	case r.state == 0: // abandoned: stays pending, as it is in the outbox
		heap.Push(&sc.due, l)
	case r.storeErr != nil:
		// The outcome is not recorded: try again soon (a delivered batch
		// may then be sent twice, which X-Pusher-Webhook-Id lets receivers
		// detect).
		s.storeError("webhook outbox: record attempt", r.storeErr, "app_id", r.lane.AppID, "url", r.lane.URL)
		l.head.Attempts = r.attempts
		l.due = time.Now().Add(retryStoreAfter)
		heap.Push(&sc.due, l)
	case r.state == Retry:
		l.head.Attempts, l.head.NextAt, l.due = r.attempts, r.nextAt, r.nextAt
		heap.Push(&sc.due, l)
	default: // Delivered or Dead: on to the next batch
		if r.state == Delivered {
			l.down = false
		}
		l.head = nil
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		s.loadLane(ctx, r.lane, false)
		cancel()
	}
}

// attempt makes one attempt at b, records the outcome in the outbox and
// reports it to the scheduler. down says the lane's last attempt failed
// after b was queued.
func (s *Sender) attempt(k Lane, b *Batch, down bool) {
	defer s.attempts.Done()
	r := result{lane: k, attempts: b.Attempts}
	now := time.Now()
	horizonEnd := b.Created.Add(s.opts.RetryHorizon)
	var res Result
	switch {
	case down && b.Attempts == 0 && !now.Before(horizonEnd):
		// It waited behind failing batches past its own horizon: do not
		// hold the lane up further with a request that would fail too.
		res = Result{State: Dead, Err: "not attempted: endpoint failing past the retry horizon; " + b.LastError}
	default:
		permanent, err := s.post(k, b)
		if s.ctx.Err() != nil {
			s.sched.results <- r // abandoned: shutting down
			return
		}
		r.attempts++
		if b.Attempts > 0 {
			s.stats.retried.Add(1)
		}
		if err == nil {
			res = Result{State: Delivered, Attempts: r.attempts}
			break
		}
		r.failed = true
		s.stats.failed.Add(1)
		now = time.Now()
		next := now.Add(s.backoff(r.attempts))
		switch {
		case permanent || !now.Before(horizonEnd):
			res = Result{State: Dead, Attempts: r.attempts, Err: err.Error()}
		default:
			res = Result{State: Retry, Attempts: r.attempts, NextAt: minTime(next, horizonEnd), Err: err.Error()}
		}
		s.log.Debug("webhook attempt failed", "app_id", k.AppID, "url", k.URL, "id", b.ID,
			"attempt", r.attempts, "err", err)
	}
	r.state, r.nextAt = res.State, res.NextAt
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	r.storeErr = s.opts.Outbox.Settle(ctx, b.ID, res)
	cancel()
	if r.storeErr == nil {
		if res.State == Delivered || res.State == Dead {
			s.outboxEvents.Add(-int64(b.Events)) // no longer pending
		}
		switch res.State {
		case Delivered:
			s.stats.sent.Add(1)
			s.stats.sentEvents.Add(int64(b.Events))
			if s.opts.OnSent != nil {
				s.opts.OnSent(k.AppID)
			}
		case Dead:
			s.stats.dead.Add(1)
			s.log.Warn("webhook dead-lettered", "app_id", k.AppID, "url", k.URL, "id", b.ID,
				"events", b.Events, "attempts", res.Attempts, "reason", res.Err)
		}
	}
	s.sched.results <- r
}

// backoff is the delay before attempt n+1: BackoffBase·2^(n-1), capped at
// BackoffMax, with "equal jitter" (between half and all of it).
func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.BackoffBase
	for i := 1; i < n && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// post sends b. It reports permanent when retrying cannot help (the app or
// the endpoint is gone).
func (s *Sender) post(k Lane, b *Batch) (permanent bool, err error) {
	a, err := s.opts.Apps.ByID(k.AppID)
	if err != nil {
		return errors.Is(err, apps.ErrNotFound), fmt.Errorf("app %s: %w", k.AppID, err)
	}
	var ep *apps.Webhook
	for i := range a.Webhooks {
		if a.Webhooks[i].URL == k.URL {
			ep = &a.Webhooks[i]
			break
		}
	}
	if ep == nil {
		return true, errors.New("endpoint no longer configured for the app")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.URL, bytes.NewReader(b.Body))
	if err != nil {
		return true, fmt.Errorf("request: %w", err)
	}
	for h, v := range ep.Headers {
		req.Header.Set(h, v)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "pixiu-webhooks")
	req.Header.Set(HeaderKey, a.Key)
	req.Header.Set(HeaderSignature, signature.Webhook(a.Secret, b.Body))
	req.Header.Set(HeaderID, b.ID)
	start := time.Now()
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, errors.New("status " + strconv.Itoa(resp.StatusCode))
	}
	s.stats.observeLatency(time.Since(start))
	return false, nil
}

// laneHeap orders lanes by due time (container/heap).
type laneHeap []*lane

func (h laneHeap) Len() int           { return len(h) }
func (h laneHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h laneHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *laneHeap) Push(x any) {
	l := x.(*lane)
	l.index = len(*h)
	*h = append(*h, l)
}
func (h *laneHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	l.index = -1
	*h = old[:len(old)-1]
	return l
}
