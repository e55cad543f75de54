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
	if m.History.On() && m.Channel != "" && m.Notice == cluster.NoticeNone {
		return e.publishWithHistory(ctx, m)
	}
	topic := e.k.bcast()
	if m.Channel != "" {
		topic = e.k.topic(m.AppID, m.Channel)
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	if err := e.publish(cctx, topic, encodeMessage(m)); err != nil {
		return e.failedCtx(ctx, err)
	}
	return nil
}

// publish sends one message: PUBLISH on one server; on a Redis Cluster,
// SPUBLISH, which reaches only the shard owning the topic's slot.
func (e *Engine) publish(ctx context.Context, topic string, payload []byte) error {
	return e.call(ctx, func() error {
		if e.cl != nil {
			return e.cl.SPublish(ctx, topic, payload).Err()
		}
		return e.rdb.Publish(ctx, topic, payload).Err()
	})
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

// subscriber owns the pub/sub connections and the topic reference counts.
// On one server it holds one connection (SUBSCRIBE); on a Redis Cluster one
// per shard primary that owns a topic in use (SSUBSCRIBE, each topic on the
// primary of its slot).
//
// A topic whose subscription was lost (its connection broke, or the server
// dropped it because its slot moved) is "lost" until Redis confirms it again
// on a live connection; while any topic is lost the subscriber is not up:
// Ready reports it and Publish and new Listens fail fast.
type subscriber struct {
	e *Engine

	mu     sync.Mutex
	conns  map[string]*shardConn // by shard address ("" on one server)
	dying  []*shardConn          // broken connections whose receive loop may still run
	gen    uint64                // generation of the newest connection
	lost   int                   // topics with lost set
	closed bool
	wasUp  bool // the subscriber was up once (reconnects are counted after)
	topics map[string]*topic
	queue  []string // topics to (un)subscribe at the next flush
	recvWG sync.WaitGroup

	upFlag atomic.Bool // lost == 0 && !closed, for lock-free reads
	kick   chan struct{}
	// quick is when resubscribeNow last ran (unix nanos): at most once an
	// Interval, so a Redis that refuses every connection is retried by the
	// health loop's pace, not in a loop.
	quick atomic.Int64
}

// shardConn is one pub/sub connection.
type shardConn struct {
	addr     string
	ps       *goredis.PubSub
	gen      uint64
	done     chan struct{} // closed when its receive loop has ended
	lastPong atomic.Int64  // unix nanos of the last pong (or of its creation)
}

// topic is one Redis pub/sub channel. Guarded by subscriber.mu.
type topic struct {
	refs   int
	active bool          // Redis confirmed the subscription on conn
	conn   *shardConn    // where SUBSCRIBE was sent; nil: not sent
	lost   bool          // held once, then lost; counted in subscriber.lost
	ready  chan struct{} // closed when active, or when the attempt failed
}

func newSubscriber(e *Engine) *subscriber {
	s := &subscriber{e: e, conns: make(map[string]*shardConn), topics: make(map[string]*topic),
		kick: make(chan struct{}, 1)}
	// Every node hears node-wide messages (notices such as terminate_connections).
	s.topics[e.k.bcast()] = &topic{refs: 1, ready: make(chan struct{})}
	s.setLost(s.topics[e.k.bcast()], true)
	return s
}

func (s *subscriber) isUp() bool { return s.upFlag.Load() }

// setLost sets t.lost and the up flag; s.mu must be held.
func (s *subscriber) setLost(t *topic, lost bool) {
	if t.lost == lost {
		return
	}
	t.lost = lost
	if lost {
		s.lost++
	} else {
		s.lost--
	}
	up := s.lost == 0 && !s.closed
	if up && !s.upFlag.Load() {
		if s.wasUp {
			s.e.counters.pubsubReconnects.Add(1)
		}
		s.wasUp = true
		s.e.log.Info("pub/sub connected", "topics", len(s.topics), "connections", len(s.conns))
	}
	s.upFlag.Store(up)
}

// forget deletes a topic; s.mu must be held.
func (s *subscriber) forget(name string, t *topic) {
	s.setLost(t, false)
	delete(s.topics, name)
}

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
	if !s.upFlag.Load() {
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

// flushLoop sends the queued subscription changes.
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
	if s.closed {
		s.mu.Unlock()
		return
	}
	var subs []string
	unsubs := make(map[*shardConn][]string)
	for _, name := range s.queue {
		t := s.topics[name]
		switch {
		case t == nil:
		case t.refs > 0 && t.conn == nil:
			subs = append(subs, name)
		case t.refs == 0 && !t.active && t.conn == nil:
			s.forget(name, t) // never subscribed
		case t.refs == 0 && t.active:
			// Only confirmed topics are unsubscribed, so at most one
			// SUBSCRIBE per topic is ever in flight and a stale
			// confirmation cannot mark a newer Listen active.
			s.forget(name, t)
			if s.conns[t.conn.addr] == t.conn {
				unsubs[t.conn] = append(unsubs[t.conn], name)
			}
		}
	}
	s.queue = s.queue[:0]
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.e.opts.OpTimeout)
	defer cancel()
	for conn, names := range s.assign(ctx, subs) {
		if err := s.send(ctx, conn, true, names); err != nil {
			s.broken(conn, err)
		}
	}
	for conn, names := range unsubs {
		if err := s.send(ctx, conn, false, names); err != nil {
			s.broken(conn, err)
		}
	}
}

// assign picks the connection of each topic (that of the shard owning its
// slot, opened if needed) and records it; topics whose shard is unknown
// stay unsent (a Listen waiting for one fails after OpTimeout; a lost one is
// retried by the health loop).
func (s *subscriber) assign(ctx context.Context, names []string) map[*shardConn][]string {
	out := make(map[*shardConn][]string)
	for _, name := range names {
		addr, client, err := s.route(ctx, name)
		if err != nil {
			s.e.log.Warn("pub/sub: no shard for topic", "topic", name, "err", err)
			continue
		}
		s.mu.Lock()
		t := s.topics[name]
		if t == nil || t.refs == 0 || t.conn != nil || s.closed {
			s.mu.Unlock()
			continue
		}
		conn := s.conns[addr]
		if conn == nil {
			conn = s.open(addr, client)
		}
		t.conn = conn
		s.mu.Unlock()
		out[conn] = append(out[conn], name)
	}
	return out
}

// route names the shard owning a topic: the one server, or the primary of
// the topic's slot.
func (s *subscriber) route(ctx context.Context, name string) (string, *goredis.Client, error) {
	if s.e.cl == nil {
		return "", s.e.rdb.(*goredis.Client), nil
	}
	c, err := s.e.cl.MasterForKey(ctx, name)
	if err != nil {
		return "", nil, err
	}
	return c.Options().Addr, c, nil
}

// open starts a connection to a shard and its receive loop; s.mu must be held.
func (s *subscriber) open(addr string, client *goredis.Client) *shardConn {
	s.gen++
	conn := &shardConn{addr: addr, ps: client.Subscribe(context.Background()), gen: s.gen, done: make(chan struct{})}
	conn.lastPong.Store(time.Now().UnixNano())
	s.conns[addr] = conn
	s.recvWG.Add(1)
	go s.receive(conn)
	return conn
}

// send (un)subscribes topics on conn: one SUBSCRIBE for many topics on one
// server; one SSUBSCRIBE per topic on a cluster (a command's channels must
// share a slot).
func (s *subscriber) send(ctx context.Context, conn *shardConn, sub bool, names []string) error {
	switch {
	case s.e.cl == nil && sub:
		return conn.ps.Subscribe(ctx, names...)
	case s.e.cl == nil:
		return conn.ps.Unsubscribe(ctx, names...)
	}
	for _, name := range names {
		var err error
		if sub {
			err = conn.ps.SSubscribe(ctx, name)
		} else {
			err = conn.ps.SUnsubscribe(ctx, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// receive delivers the messages of one connection in order until it fails.
func (s *subscriber) receive(conn *shardConn) {
	defer s.recvWG.Done()
	for {
		msg, err := conn.ps.Receive(context.Background())
		if err != nil {
			if s.e.cl != nil && redirected(err) {
				s.moved(conn, err)
				continue
			}
			s.broken(conn, err)
			close(conn.done)
			s.resubscribeNow()
			return
		}
		switch msg := msg.(type) {
		case *goredis.Message:
			if app, ok := s.e.k.debugApp(msg.Channel); ok {
				s.e.debug.deliver(app, msg.Payload)
				continue
			}
			m, err := decodeMessage(msg.Payload)
			if err != nil {
				s.e.counters.pubsubDropped.Add(1)
				s.e.log.Error("drop pub/sub message", "topic", msg.Channel, "err", err)
				continue
			}
			s.e.handler(m)
		case *goredis.Subscription:
			switch msg.Kind {
			case "subscribe", "ssubscribe":
				s.confirmed(conn, msg.Channel)
			case "sunsubscribe":
				s.dropped(conn, msg.Channel)
			}
		case *goredis.Pong:
			conn.lastPong.Store(time.Now().UnixNano())
		}
	}
}

func (s *subscriber) confirmed(conn *shardConn, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil || t.conn != conn || t.active {
		return
	}
	t.active = true
	close(t.ready)
	s.setLost(t, false)
	if t.refs == 0 {
		s.queue = append(s.queue, name)
		s.poke()
	}
}

// dropped handles an unsubscription the server pushed: when a slot leaves a
// shard (resharding, failover), Redis unsubscribes that slot's sharded
// channels. A topic still in use is subscribed again where its slot now is.
// (Our own SUNSUBSCRIBE's confirmation concerns a topic no longer held.)
func (s *subscriber) dropped(conn *shardConn, name string) {
	s.mu.Lock()
	t := s.topics[name]
	if t == nil || t.conn != conn || !t.active {
		s.mu.Unlock()
		return
	}
	t.active, t.conn = false, nil
	t.ready = make(chan struct{})
	s.setLost(t, true)
	s.queue = append(s.queue, name)
	s.mu.Unlock()
	s.e.log.Info("pub/sub: the server dropped a sharded subscription (slot moved): subscribing again", "topic", name)
	s.e.cl.ReloadState(context.Background())
	s.pokeSoon()
}

// moved handles a redirect answered to a SSUBSCRIBE (the slot map was
// stale): the topics in flight on conn are sent again once the map is
// reloaded. Those already confirmed elsewhere are unaffected.
func (s *subscriber) moved(conn *shardConn, err error) {
	s.e.log.Info("pub/sub: subscription redirected: reloading the slot map", "err", err)
	s.e.cl.ReloadState(context.Background())
	s.mu.Lock()
	for name, t := range s.topics {
		if t.conn == conn && !t.active {
			t.conn = nil
			s.queue = append(s.queue, name)
		}
	}
	s.mu.Unlock()
	s.pokeSoon()
}

// pokeSoon flushes after the slot map had time to reload.
func (s *subscriber) pokeSoon() {
	time.AfterFunc(50*time.Millisecond, s.poke)
}

// broken tears down a connection after an error: its topics in use are lost
// until the health loop subscribes them again (after the connection's
// receive loop has ended, so no message is ever delivered twice); a Listen
// waiting for a confirmation on it fails.
func (s *subscriber) broken(conn *shardConn, err error) {
	s.mu.Lock()
	if s.conns[conn.addr] != conn {
		s.mu.Unlock()
		return
	}
	delete(s.conns, conn.addr)
	s.dying = append(s.dying, conn)
	for name, t := range s.topics {
		if t.conn != conn {
			continue
		}
		t.conn = nil
		switch {
		case t.refs == 0:
			if !t.active {
				close(t.ready)
			}
			s.forget(name, t)
		case t.active:
			t.active = false
			t.ready = make(chan struct{})
			s.setLost(t, true)
		case !t.lost:
			close(t.ready) // the Listen waiting for it fails
			t.ready = make(chan struct{})
		}
	}
	s.mu.Unlock()
	s.e.log.Warn("pub/sub connection lost", "shard", conn.addr, "err", err)
	_ = conn.ps.Close()
	if s.e.cl != nil {
		s.e.cl.ReloadState(context.Background())
	}
}

// resubscribeNow subscribes the lost topics again at once, once the
// receive loops of the broken connections have ended (no message is
// delivered twice), instead of at the health loop's next tick: messages
// published until then never reach this node. It runs at most once an
// Interval and not while Redis is known to be down; the health loop retries.
func (s *subscriber) resubscribeNow() {
	last, now := s.quick.Load(), time.Now().UnixNano()
	if now-last < int64(s.e.opts.Interval) || !s.quick.CompareAndSwap(last, now) || s.e.usable() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, c := range s.dying {
		select {
		case <-c.done:
		default:
			return
		}
	}
	n := 0
	for name, t := range s.topics {
		if t.lost && t.conn == nil && t.refs > 0 {
			s.queue = append(s.queue, name)
			n++
		}
	}
	if n > 0 {
		s.poke()
	}
}

// check runs on the health loop: it pings every connection (declaring it
// broken when pongs stop coming) and subscribes again the lost topics whose
// old connection's receive loop has ended.
func (s *subscriber) check(ctx context.Context) {
	s.mu.Lock()
	conns := make([]*shardConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		stale := time.Duration(time.Now().UnixNano()-c.lastPong.Load()) > 3*s.e.opts.Interval+s.e.opts.OpTimeout
		sent := time.Now().UnixNano()
		if err := c.ps.Ping(ctx); err != nil {
			s.broken(c, err)
			continue
		}
		// Pongs may be missing only because this process was not running
		// (a long GC or VM pause, SIGSTOP): they are then unread in the
		// socket, behind the messages that came meanwhile. A connection is
		// declared dead only once a fresh ping goes unanswered within the
		// check's budget; tearing down a healthy one would lose the messages
		// published before it is subscribed again.
		if stale && !awaitPong(ctx, c, sent) {
			s.broken(c, errors.New("no pong from redis"))
		}
	}
	s.mu.Lock()
	dying := s.dying
	s.dying = nil
	s.mu.Unlock()
	for _, c := range dying {
		select {
		case <-c.done:
		case <-ctx.Done():
			s.mu.Lock()
			s.dying = append(s.dying, c)
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	n := 0
	for name, t := range s.topics {
		if t.lost && t.conn == nil && t.refs > 0 {
			s.queue = append(s.queue, name)
			n++
		}
	}
	s.mu.Unlock()
	if n > 0 {
		s.flush()
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	s.closed = true
	s.upFlag.Store(false)
	conns := s.conns
	s.conns = make(map[string]*shardConn)
	for _, t := range s.topics {
		if !t.active && !t.lost && t.conn != nil {
			close(t.ready)
		}
		t.conn = nil
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ps.Close()
	}
	s.recvWG.Wait()
}

// awaitPong waits until c's receive loop reads a pong at or after sent, or
// until ctx ends.
func awaitPong(ctx context.Context, c *shardConn, sent int64) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for c.lastPong.Load() < sent {
		select {
		case <-ctx.Done():
			return false
		case <-c.done:
			return false
		case <-t.C:
		}
	}
	return true
}
