package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// Publish sends m to every node listening to its channel (every node when
// m.Channel is empty), this one included, through Redis: one order per
// channel for all nodes. It fails fast while Redis or this node's pub/sub
// connection is down, so a REST publish answers 503 instead of losing the
// local deliveries silently, and until this node has re-registered its
// state after an outage or a failover: that waits a few Intervals after
// Redis answers again, time for the other nodes to resubscribe too, so a
// publish accepted after a failover reaches the subscribers of every node.
func (e *Engine) Publish(ctx context.Context, m cluster.Message) error {
	if err := e.usable(); err != nil {
		return err
	}
	if !e.sub.isUp() {
		return fmt.Errorf("%w: pub/sub connection down", ErrUnavailable)
	}
	if !e.synced.Load() {
		return fmt.Errorf("%w: re-registering this node's state", ErrUnavailable)
	}
	topic := e.k.bcast()
	if m.Channel != "" {
		topic = e.k.topic(m.AppID, m.Channel)
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	if err := e.rdb.Publish(cctx, topic, encodeMessage(m)).Err(); err != nil {
		return e.failedCtx(ctx, err)
	}
	return nil
}

// Listen implements cluster.Broker: the first Listen of a channel subscribes
// this node to its topic (batched with other pending subscriptions) and
// every Listen returns once Redis has confirmed it, or fails after OpTimeout.
func (e *Engine) Listen(appID, channel string) error {
	return e.sub.listen(e.k.topic(appID, channel))
}

// Unlisten implements cluster.Broker: the last Unlisten of a channel queues
// its UNSUBSCRIBE.
func (e *Engine) Unlisten(appID, channel string) error {
	e.sub.unlisten(e.k.topic(appID, channel))
	return nil
}

// subscriber owns the pub/sub connection and the topic reference counts.
type subscriber struct {
	e *Engine

	mu     sync.Mutex
	ps     *goredis.PubSub   // current connection; nil while down. Guarded by mu.
	gen    uint64            // generation of ps; receive loops of older ones are ignored
	up     bool              // ps confirmed working (a pong arrived after its subscriptions)
	topics map[string]*topic // guarded by mu
	queue  []string          // topics to (un)subscribe at the next flush; guarded by mu
	recvWG sync.WaitGroup    // the receive loop of ps

	upFlag   atomic.Bool  // mirrors up for lock-free reads
	lastPong atomic.Int64 // unix nanos of the last pong on ps
	kick     chan struct{}
}

// topic is one Redis pub/sub channel. Guarded by subscriber.mu.
type topic struct {
	refs   int
	active bool          // Redis confirmed the subscription on the current connection
	sent   uint64        // generation on which SUBSCRIBE was sent (0: not sent)
	ready  chan struct{} // closed when active, or when the attempt failed
}

func newSubscriber(e *Engine) *subscriber {
	s := &subscriber{e: e, topics: make(map[string]*topic), kick: make(chan struct{}, 1)}
	// Every node hears node-wide messages (notices such as terminate_connections).
	s.topics[e.k.bcast()] = &topic{refs: 1, ready: make(chan struct{})}
	return s
}

func (s *subscriber) isUp() bool { return s.upFlag.Load() }

func (s *subscriber) listen(name string) error {
	s.mu.Lock()
	t := s.topics[name]
	if t == nil {
		t = &topic{ready: make(chan struct{})}
		s.topics[name] = t
	}
	t.refs++
	if t.active {
		s.mu.Unlock()
		return nil
	}
	if !s.up {
		s.release(name, t)
		s.mu.Unlock()
		return fmt.Errorf("%w: pub/sub connection down", ErrUnavailable)
	}
	s.queue = append(s.queue, name)
	ready := t.ready
	s.mu.Unlock()
	s.poke()

	timer := time.NewTimer(s.e.opts.OpTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-timer.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.active && s.topics[name] == t {
		return nil
	}
	s.release(name, t)
	return fmt.Errorf("%w: subscription to %s not confirmed", ErrUnavailable, name)
}

func (s *subscriber) unlisten(name string) {
	s.mu.Lock()
	if t := s.topics[name]; t != nil {
		s.release(name, t)
	}
	s.mu.Unlock()
	s.poke()
}

// release drops one reference; must be called with s.mu held.
func (s *subscriber) release(name string, t *topic) {
	if t.refs > 0 {
		t.refs--
	}
	if t.refs == 0 {
		s.queue = append(s.queue, name)
	}
}

func (s *subscriber) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flushLoop sends the queued subscription changes, many per command.
func (s *subscriber) flushLoop() {
	defer s.e.wg.Done()
	for {
		select {
		case <-s.e.stop:
			return
		case <-s.kick:
		}
		s.flush()
	}
}

func (s *subscriber) flush() {
	s.mu.Lock()
	ps, gen := s.ps, s.gen
	if ps == nil || !s.up {
		s.mu.Unlock()
		return
	}
	var subs, unsubs []string
	for _, name := range s.queue {
		t := s.topics[name]
		switch {
		case t == nil:
		case t.refs > 0 && t.sent != gen:
			t.sent = gen
			subs = append(subs, name)
		case t.refs == 0 && !t.active && t.sent != gen:
			delete(s.topics, name) // never subscribed on this connection
		case t.refs == 0 && t.active:
			// Only confirmed topics are unsubscribed, so at most one
			// SUBSCRIBE per topic is ever in flight and a stale
			// confirmation cannot mark a newer Listen active.
			delete(s.topics, name)
			unsubs = append(unsubs, name)
		}
	}
	s.queue = s.queue[:0]
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.e.opts.OpTimeout)
	defer cancel()
	var err error
	if len(subs) > 0 {
		err = ps.Subscribe(ctx, subs...)
	}
	if err == nil && len(unsubs) > 0 {
		err = ps.Unsubscribe(ctx, unsubs...)
	}
	if err != nil {
		s.broken(gen, err)
	}
}

// receive delivers the messages of one connection in order until it fails.
func (s *subscriber) receive(ps *goredis.PubSub, gen uint64) {
	defer s.recvWG.Done()
	for {
		msg, err := ps.Receive(context.Background())
		if err != nil {
			s.broken(gen, err)
			return
		}
		switch msg := msg.(type) {
		case *goredis.Message:
			m, err := decodeMessage(msg.Payload)
			if err != nil {
				s.e.log.Error("drop pub/sub message", "topic", msg.Channel, "err", err)
				continue
			}
			s.e.handler(m)
		case *goredis.Subscription:
			if msg.Kind == "subscribe" {
				s.confirmed(gen, msg.Channel)
			}
		case *goredis.Pong:
			s.lastPong.Store(time.Now().UnixNano())
			s.mu.Lock()
			if gen == s.gen && s.ps != nil && !s.up {
				// The pong follows the confirmations of every topic
				// subscribed at connect: the connection is whole.
				s.up = true
				s.upFlag.Store(true)
				s.e.log.Info("pub/sub connected", "topics", len(s.topics))
			}
			s.mu.Unlock()
			s.poke() // Listens queued while connecting
		}
	}
}

func (s *subscriber) confirmed(gen uint64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if gen != s.gen || t == nil || t.active {
		return
	}
	t.active = true
	close(t.ready)
	if t.refs == 0 {
		s.queue = append(s.queue, name)
		s.poke()
	}
}

// broken tears down connection gen after an error; the health loop
// reconnects.
func (s *subscriber) broken(gen uint64, err error) {
	s.mu.Lock()
	if gen != s.gen || s.ps == nil {
		s.mu.Unlock()
		return
	}
	ps := s.ps
	s.ps = nil
	s.markAllInactive()
	s.mu.Unlock()
	s.e.log.Warn("pub/sub connection lost", "err", err)
	_ = ps.Close()
}

// markAllInactive forgets every confirmation and wakes the Listens waiting
// for one (they fail). Must be called with s.mu held.
func (s *subscriber) markAllInactive() {
	s.up = false
	s.upFlag.Store(false)
	for name, t := range s.topics {
		if !t.active {
			close(t.ready)
		}
		if t.refs == 0 {
			delete(s.topics, name)
			continue
		}
		t.active, t.sent = false, 0
		t.ready = make(chan struct{})
	}
	s.queue = s.queue[:0]
}

// check runs on the health loop: it (re)connects a missing connection and
// pings a live one, declaring it broken when pongs stop coming.
func (s *subscriber) check(ctx context.Context) {
	s.mu.Lock()
	ps, gen := s.ps, s.gen
	s.mu.Unlock()
	if ps == nil {
		s.connect(ctx)
		return
	}
	stale := time.Duration(time.Now().UnixNano()-s.lastPong.Load()) > 3*s.e.opts.Interval+s.e.opts.OpTimeout
	if stale {
		s.broken(gen, errors.New("no pong from redis"))
		return
	}
	if err := ps.Ping(ctx); err != nil {
		s.broken(gen, err)
	}
}

// connect opens a new connection subscribed to every topic in use, then pings
// it; the pong marks it up. The previous connection's receive loop has ended
// before, so no message is ever delivered twice.
func (s *subscriber) connect(ctx context.Context) {
	s.recvWG.Wait()
	ps := s.e.rdb.Subscribe(ctx)
	s.mu.Lock()
	s.gen++
	gen := s.gen
	names := make([]string, 0, len(s.topics))
	for name, t := range s.topics {
		if t.refs > 0 {
			t.sent = gen
			names = append(names, name)
		}
	}
	s.ps = ps
	s.mu.Unlock()
	s.lastPong.Store(time.Now().UnixNano())
	s.recvWG.Add(1)
	go s.receive(ps, gen)
	err := ps.Subscribe(ctx, names...)
	if err == nil {
		err = ps.Ping(ctx)
	}
	if err != nil {
		s.broken(gen, err)
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	ps := s.ps
	s.ps = nil
	s.gen++
	s.markAllInactive()
	s.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	s.recvWG.Wait()
}
