package pusher

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Defaults of the TriggerAsync queue.
const (
	defaultQueueSize    = 1024
	defaultAsyncWorkers = 4
)

// asyncQueue is the bounded queue behind TriggerAsync, drained by a small
// pool of workers started on first use.
//
// Jobs get increasing sequence numbers; low is the watermark below which
// every job is done, so Flush can wait for exactly the jobs queued before it
// even though workers finish out of order.
type asyncQueue struct {
	client  *Client
	jobs    chan asyncJob
	workers int
	onError func(error) // may be nil

	mu      sync.Mutex
	started bool                // guarded by mu
	closed  bool                // guarded by mu; jobs is closed once set and started
	next    uint64              // guarded by mu: sequence of the next job
	low     uint64              // guarded by mu: every job below low is done
	ahead   map[uint64]struct{} // guarded by mu: done jobs at or above low
	waiters []*flushWaiter      // guarded by mu
	cancel  context.CancelFunc  // guarded by mu; cancels in-flight sends

	wg        sync.WaitGroup // workers
	closeOnce sync.Once
	stopped   chan struct{} // closed when every worker has exited
}

type asyncJob struct {
	seq  uint64
	body []byte // POST /events body, already validated
}

type flushWaiter struct {
	target uint64 // done when low >= target
	done   chan struct{}
}

func newAsyncQueue(c *Client, size, workers int, onError func(error)) *asyncQueue {
	if size <= 0 {
		size = defaultQueueSize
	}
	if workers <= 0 {
		workers = defaultAsyncWorkers
	}
	return &asyncQueue{
		client: c, jobs: make(chan asyncJob, size), workers: workers, onError: onError,
		ahead: make(map[uint64]struct{}), stopped: make(chan struct{}),
	}
}

// TriggerAsync validates and queues a trigger (same arguments as Trigger)
// and returns at once. It never blocks: it returns ErrQueueFull when the
// queue is full and ErrClosed after Close. Send errors go to
// Options.OnAsyncError. Use Flush to wait for queued events.
func (c *Client) TriggerAsync(channels []string, event string, data any, opts *TriggerOptions) error {
	body, err := c.triggerRequest(channels, event, data, opts)
	if err != nil {
		return err
	}
	if c.async == nil {
		return errNoQueue
	}
	return c.async.enqueue(body)
}

// errNoQueue: TriggerAsync on a Client that New did not build.
var errNoQueue = errors.New("pusher: TriggerAsync needs a Client built by New")

// Flush waits until every event queued by TriggerAsync before the call has
// been sent (or failed), or until ctx is done.
func (c *Client) Flush(ctx context.Context) error {
	if c.async == nil {
		return nil
	}
	return c.async.flush(ctx)
}

// Close stops accepting TriggerAsync events, sends those already queued and
// stops the workers. If ctx ends first, in-flight sends are cancelled and
// ctx.Err() is returned. Close is idempotent; synchronous methods keep
// working after it.
func (c *Client) Close(ctx context.Context) error {
	if c.async == nil {
		return nil
	}
	return c.async.close(ctx)
}

func (q *asyncQueue) enqueue(body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if !q.started {
		q.start()
	}
	select {
	case q.jobs <- asyncJob{seq: q.next, body: body}:
		q.next++
		return nil
	default:
		return ErrQueueFull
	}
}

// start launches the workers. Must be called with q.mu held.
func (q *asyncQueue) start() {
	q.started = true
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	q.wg.Add(q.workers)
	for range q.workers {
		go q.work(ctx)
	}
}

// work sends jobs until the queue is closed and empty.
func (q *asyncQueue) work(ctx context.Context) {
	defer q.wg.Done()
	for job := range q.jobs {
		_, err := q.client.sendTrigger(ctx, job.body)
		if err != nil && q.onError != nil {
			q.onError(err)
		}
		q.done(job.seq)
	}
}

// done records that job seq finished and releases satisfied Flush waiters.
func (q *asyncQueue) done(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ahead[seq] = struct{}{}
	for {
		if _, ok := q.ahead[q.low]; !ok {
			break
		}
		delete(q.ahead, q.low)
		q.low++
	}
	q.waiters = slices.DeleteFunc(q.waiters, func(w *flushWaiter) bool {
		if q.low >= w.target {
			close(w.done)
			return true
		}
		return false
	})
}

func (q *asyncQueue) flush(ctx context.Context) error {
	q.mu.Lock()
	if q.low >= q.next {
		q.mu.Unlock()
		return nil
	}
	w := &flushWaiter{target: q.next, done: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()

	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		q.waiters = slices.DeleteFunc(q.waiters, func(x *flushWaiter) bool { return x == w })
		q.mu.Unlock()
		return ctx.Err()
	}
}

func (q *asyncQueue) close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		started := q.started
		q.mu.Unlock()
		if !started {
			close(q.stopped)
			return
		}
		close(q.jobs) // safe: enqueue checks closed under mu before sending
		go func() {
			q.wg.Wait()
			q.mu.Lock()
			q.cancel()
			q.mu.Unlock()
			close(q.stopped)
		}()
	})
	select {
	case <-q.stopped:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if q.cancel != nil {
			q.cancel()
		}
		q.mu.Unlock()
		return ctx.Err()
	}
}
