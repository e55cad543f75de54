package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
)

// AppSource looks apps up by id; *apps.Registry implements it. Apps are
// looked up for every event (endpoints, filters) and every request (key,
// secret, extra headers), so changes apply without a restart.
type AppSource interface {
	ByID(id string) (*apps.App, error)
}

// Options configure a Sender. Zero values mean the documented default.
type Options struct {
	// Apps resolves app ids. Required.
	Apps AppSource
	// Outbox stores events, batches and dead letters. Required; the Sender
	// does not close it.
	Outbox Outbox
	// Timeout bounds one request: only a 2xx answer within it is a
	// success. Default 5s.
	Timeout time.Duration
	// RetryHorizon is how long after it was sealed a failing batch is
	// retried before it becomes a dead letter. Default 5m (as Pusher).
	RetryHorizon time.Duration
	// BatchInterval is the longest an event waits for others to share its
	// request. Default 250ms.
	BatchInterval time.Duration
	// BatchMax is the most events in one request. Default 50.
	BatchMax int
	// VacateDelay is how long channel_vacated and member_removed are held
	// (protocol.md §7.3). Default 3s; negative disables the hold.
	VacateDelay time.Duration
	// StillGone, if set, is asked when a held channel_vacated or
	// member_removed is due: false (the channel is occupied again, the user
	// is back — on another node, in a cluster) drops it. Errors should
	// answer true: an event is better sent than lost.
	StillGone func(hub.Event) bool
	// Marks, if set, share held events with the other nodes (handoff.go),
	// so that a leave on one node and a return on another within the hold
	// send neither webhook. Without it, that return sends a second
	// channel_occupied / member_added.
	Marks Marks
	// BackoffBase is the first retry delay; it doubles per attempt, with
	// jitter. Default 1s, and at most RetryHorizon/20 so that a short
	// horizon still gets several attempts.
	BackoffBase time.Duration
	// BackoffMax caps a retry delay. Default 1m, at most RetryHorizon/4.
	BackoffMax time.Duration
	// Concurrency is the most requests in flight; an endpoint never has
	// more than one. Default 32.
	Concurrency int
	// QueueSize is the hand-off queue between Observe and the writer.
	// Default 4096.
	QueueSize int
	// SpillMax is how many events may wait beyond a full queue before new
	// ones are dropped (counted and logged). Default 65536.
	SpillMax int
	// MaxOutboxEvents caps the events waiting in the outbox (unsealed
	// entries plus the events of pending batches): past it, new events are
	// dropped and counted (reason outbox_full) until deliveries make room,
	// so a receiver that is down for days cannot fill the disk. Default
	// 1,000,000; negative means no cap.
	MaxOutboxEvents int64
	// DeadLetterRetention is how long a dead letter is kept before it is
	// deleted. Default 7 days; negative keeps them until purged by hand.
	DeadLetterRetention time.Duration
	// JanitorInterval is how often dead letters past the retention are
	// deleted and the outbox's size is recounted. Default 1m.
	JanitorInterval time.Duration
	// PollInterval is how often the outbox is scanned for batches another
	// process added (pixiu webhooks replay). Default 2s.
	PollInterval time.Duration
	// FlushTimeout is how long Close keeps delivering due batches.
	// Default 5s; whatever is left is delivered after the next start.
	FlushTimeout time.Duration
	// StatsInterval is how often the counters are logged when they changed.
	// Default 1m; negative disables.
	StatsInterval time.Duration
	// OnSent, if set, is called after each delivered request with its app
	// id (webhooks count as messages, protocol.md §8). It must be cheap.
	OnSent func(appID string)
	// Client sends the requests. Default: a client that does not follow
	// redirects (a 3xx is a failure).
	Client *http.Client
}

func (o *Options) applyDefaults() {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&o.Timeout, 5*time.Second)
	def(&o.RetryHorizon, 5*time.Minute)
	def(&o.BatchInterval, 250*time.Millisecond)
	def(&o.VacateDelay, 3*time.Second)
	def(&o.BackoffBase, min(time.Second, o.RetryHorizon/20))
	def(&o.BackoffMax, min(time.Minute, o.RetryHorizon/4))
	def(&o.PollInterval, 2*time.Second)
	def(&o.FlushTimeout, 5*time.Second)
	def(&o.StatsInterval, time.Minute)
	def(&o.DeadLetterRetention, 7*24*time.Hour)
	def(&o.JanitorInterval, time.Minute)
	if o.MaxOutboxEvents == 0 {
		o.MaxOutboxEvents = 1_000_000
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 50
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.SpillMax <= 0 {
		o.SpillMax = 65536
	}
	o.BackoffBase = max(o.BackoffBase, time.Millisecond)
	o.BackoffMax = max(o.BackoffMax, o.BackoffBase)
	if o.Client == nil {
		o.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// record is one event on its way to one endpoint, from Observe to the writer.
type record struct {
	ev hub.Event
	ep apps.Webhook
	at time.Time
}

// Sender turns hub lifecycle events into webhooks. It implements
// hub.Observer; Observe is safe for concurrent use and never blocks. New
// starts its goroutines; Close stops them.
type Sender struct {
	opts Options
	log  *slog.Logger
	hold holder

	// gate orders Observe's enqueue against Close: once closed is set under
	// the write lock, no record enters the queue.
	gate    sync.RWMutex
	closed  bool        // guarded by gate
	closing atomic.Bool // Close has begun: Observe takes nothing more

	queue     chan record
	spillMu   sync.Mutex
	spill     []record    // guarded by spillMu; records that found the queue full
	spilling  atomic.Bool // spill is not empty: new records go there too, to keep order
	spillWake chan struct{}

	w     writer    // owned by the writer goroutine
	sched scheduler // owned by the scheduler goroutine, except its dirty set

	stats counters
	// outboxEvents estimates Outbox.Size: recounted by the janitor, raised
	// by the writer's appends, lowered by settled batches.
	outboxEvents atomic.Int64
	// storeErrLog rate-limits outbox error logs (a full disk fails every
	// write): unix ns of the last line, and failures since.
	storeErrLog    atomic.Int64
	storeErrHidden atomic.Int64

	ctx         context.Context // delivery context, cancelled at the end of Close
	cancel      context.CancelFunc
	holdStop    chan struct{}
	holdDone    chan struct{}
	marks       chan markJob // to runMarks
	marksDone   chan struct{}
	writerStop  chan struct{}
	writerDone  chan struct{}
	schedDone   chan struct{}
	statsStop   chan struct{}
	janitorStop chan struct{}
	janitorDone chan struct{}
	attempts    sync.WaitGroup
	closeOnce   sync.Once
}

var _ hub.Observer = (*Sender)(nil)

// New starts a Sender: it recovers unsealed events from the outbox and
// resumes delivery of every pending batch.
func New(opts Options, log *slog.Logger) (*Sender, error) {
	if opts.Apps == nil || opts.Outbox == nil {
		return nil, errors.New("webhook: Options.Apps and Options.Outbox are required")
	}
	opts.applyDefaults()
	s := &Sender{
		opts:        opts,
		log:         log,
		queue:       make(chan record, opts.QueueSize),
		spillWake:   make(chan struct{}, 1),
		holdStop:    make(chan struct{}),
		holdDone:    make(chan struct{}),
		marks:       make(chan markJob, handoffQueue),
		marksDone:   make(chan struct{}),
		writerStop:  make(chan struct{}),
		writerDone:  make(chan struct{}),
		schedDone:   make(chan struct{}),
		statsStop:   make(chan struct{}),
		janitorStop: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hold.init(opts.VacateDelay)
	s.w.init()
	s.sched.init(opts.Concurrency)
	s.janitor() // the size before the writer appends; old dead letters go first
	go s.runJanitor()
	go s.runHolder()
	if opts.Marks != nil {
		go s.runMarks()
	} else {
		close(s.marksDone)
	}
	go s.runWriter()
	go s.runScheduler()
	if opts.StatsInterval > 0 {
		go s.runStats()
	}
	return s, nil
}

// Observe takes a hub lifecycle event. It is called from connection event
// loops and REST handlers: it filters, holds or enqueues, and never blocks.
func (s *Sender) Observe(e hub.Event) {
	typ, ok := typeOf(e.Kind)
	if !ok {
		return
	}
	a, err := s.opts.Apps.ByID(e.AppID)
	if err != nil || len(a.Webhooks) == 0 {
		return
	}
	if s.closing.Load() {
		s.drop(dropClosed, 1)
		return
	}
	now := time.Now()
	switch e.Kind {
	case hub.ChannelVacated, hub.MemberRemoved:
		// protocol.md §7.3: held, so that a quick return cancels both.
		if s.hold.delay > 0 && wantsPair(a, e) {
			if s.hold.add(e, now) {
				s.handoff(markJob{ev: e, mark: true})
			}
			return
		}
	case hub.ChannelOccupied, hub.MemberAdded:
		if s.hold.cancel(e) {
			s.stats.suppressed.Add(1)
			s.handoff(markJob{ev: e})
			return
		}
		// Its held half may be on another node: checked in order, off the caller.
		if s.hold.delay > 0 && wantsPair(a, e) && s.handoff(markJob{ev: e, check: true, at: now}) {
			return
		}
	}
	s.dispatch(a, typ, e, now)
}

// wantsPair reports whether any endpoint of a takes either half of the
// vacated/occupied (removed/added) pair e belongs to.
func wantsPair(a *apps.App, e hub.Event) bool {
	t1, t2 := "channel_vacated", "channel_occupied"
	if e.Kind == hub.MemberRemoved {
		t1, t2 = "member_removed", "member_added"
	}
	for i := range a.Webhooks {
		if wants(&a.Webhooks[i], t1, e.Channel) || wants(&a.Webhooks[i], t2, e.Channel) {
			return true
		}
	}
	return false
}

// dispatch enqueues e for each endpoint of a that wants it.
func (s *Sender) dispatch(a *apps.App, typ string, e hub.Event, at time.Time) {
	for i := range a.Webhooks {
		if wants(&a.Webhooks[i], typ, e.Channel) {
			s.enqueue(record{ev: e, ep: a.Webhooks[i], at: at})
		}
	}
}

// enqueue hands r to the writer without blocking: into the queue, or when it
// is full into the spill list, or, past SpillMax, nowhere (counted, logged).
func (s *Sender) enqueue(r record) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closed {
		s.drop(dropClosed, 1)
		return
	}
	if !s.spilling.Load() {
		select {
		case s.queue <- r:
			return
		default:
		}
	}
	s.spillMu.Lock()
	if len(s.spill) >= s.opts.SpillMax {
		s.spillMu.Unlock()
		s.drop(dropQueueFull, 1)
		return
	}
	s.spill = append(s.spill, r)
	s.spilling.Store(true)
	s.spillMu.Unlock()
	s.stats.spilled.Add(1)
	select {
	case s.spillWake <- struct{}{}:
	default:
	}
}

// drop counts n lost events and logs at most once a minute per reason.
func (s *Sender) drop(r dropReason, n int64) {
	total := s.stats.dropped[r].Add(n)
	now := time.Now().UnixNano()
	last := s.stats.lastDropLog[r].Load()
	if now-last >= int64(time.Minute) && s.stats.lastDropLog[r].CompareAndSwap(last, now) {
		s.log.Error("webhook events dropped", "reason", r.String(), "dropped_total", total,
			"hint", r.hint())
	}
}

// storeError logs a failed outbox operation at most once a minute, with the
// number of failures not logged since: a full disk fails every write, and
// the log must not become the next thing to fill it.
func (s *Sender) storeError(msg string, err error, attrs ...any) {
	now := time.Now().UnixNano()
	last := s.storeErrLog.Load()
	if now-last < int64(time.Minute) || !s.storeErrLog.CompareAndSwap(last, now) {
		s.storeErrHidden.Add(1)
		return
	}
	attrs = append(attrs, "err", err, "failures_not_logged", s.storeErrHidden.Swap(0))
	s.log.Error(msg, attrs...)
}

// runJanitor runs janitor every JanitorInterval until Close.
func (s *Sender) runJanitor() {
	defer close(s.janitorDone)
	t := time.NewTicker(s.opts.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.janitor()
		case <-s.janitorStop:
			return
		}
	}
}

// janitor deletes the dead letters past the retention and recounts the
// outbox's size.
func (s *Sender) janitor() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.opts.DeadLetterRetention > 0 {
		n, err := s.opts.Outbox.Purge(ctx, Filter{DeadBefore: time.Now().Add(-s.opts.DeadLetterRetention)})
		if err != nil {
			s.storeError("webhook outbox: prune dead letters", err)
		} else if n > 0 {
			s.stats.pruned.Add(int64(n))
			s.log.Info("webhook dead letters pruned", "batches", n, "retention", s.opts.DeadLetterRetention)
		}
	}
	n, err := s.opts.Outbox.Size(ctx)
	if err != nil {
		s.storeError("webhook outbox: size", err)
		return
	}
	s.outboxEvents.Store(n)
}

// Close stops taking events, releases the held ones, writes everything to
// the outbox, keeps delivering due batches for up to FlushTimeout and stops.
// Batches left are delivered after the next start. Close is idempotent.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.holdStop) // releases every held event into the queue
		<-s.holdDone
		<-s.marksDone // the occupied/added waiting for a check are dispatched
		s.gate.Lock()
		s.closed = true
		s.gate.Unlock()
		close(s.writerStop) // drains the queue and seals every open batch
		<-s.writerDone
		s.sched.flush(s.opts.FlushTimeout)
		s.cancel()
		<-s.schedDone
		s.attempts.Wait()
		close(s.janitorStop)
		<-s.janitorDone
		if s.opts.StatsInterval > 0 {
			close(s.statsStop)
		}
		s.logStats()
	})
	return nil
}

// DeadLetters returns the dead batches matching f, oldest first.
func (s *Sender) DeadLetters(ctx context.Context, f Filter) ([]*Batch, error) {
	return s.opts.Outbox.DeadLetters(ctx, f)
}

// Purge deletes the dead batches matching f and returns how many.
func (s *Sender) Purge(ctx context.Context, f Filter) (int, error) {
	return s.opts.Outbox.Purge(ctx, f)
}

// Replay queues the dead batches matching f again, with a fresh retry
// horizon, and returns how many. An empty filter replays every dead letter.
func (s *Sender) Replay(ctx context.Context, f Filter) (int, error) {
	n, err := s.opts.Outbox.Replay(ctx, f)
	if n > 0 {
		s.sched.rescanSoon()
	}
	return n, err
}
