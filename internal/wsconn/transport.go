package wsconn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/httpwire"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/lograte"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Options configure a Transport. Zero values mean the documented default.
type Options struct {
	Hub  *hub.Hub       // required
	Apps *apps.Registry // required
	Log  *slog.Logger   // default: discard

	ActivityTimeout time.Duration // default 120s (protocol.md §3.1)
	PongTimeout     time.Duration // default 30s
	// UserAuthTimeout is the time a connection of an app with UserAuth
	// (authorized connections) has to sign in or subscribe to a private or
	// presence channel before it is closed with 4009. Default 30s.
	UserAuthTimeout   time.Duration
	MaxMessageBytes   int // largest client message, default 64 KiB
	MaxPendingBytes   int // outbound bytes held per socket before 4100 (ours and gnet's, once), default 1 MiB
	MaxOutboundBytes  int // outbound bytes held for all sockets before the largest holders get 4100, default 192 MiB
	MaxEventBytes     int // client event data limit, default 10 KiB
	MaxChannelNameLen int // default 200
	MaxEventNameLen   int // client event name limit, default 200
	MaxSubscriptions  int // channels per connection, default 10,000
	// MaxSubscribesPerSecond and SubscribeBurst bound each connection's
	// subscribe/unsubscribe requests (subLimiter): default 20/s with bursts
	// of 100 (a client subscribing to its channels at connect); a negative
	// rate means no limit.
	MaxSubscribesPerSecond int
	SubscribeBurst         int
	// MaxHistoryReplay bounds the events one pixiu:recover replays
	// (history.go); default 100.
	MaxHistoryReplay int
	// EngineWorkers bounds the goroutines that make engine calls off the
	// event loops when the hub's engine may block (offloop.go); default 64.
	EngineWorkers int
	// TLS, if set, makes the port TLS-only: an accepted connection whose
	// first byte opens a TLS handshake is handed to it (a net.Conn on a
	// duplicate of the socket, the bytes read replayed; called on its own
	// goroutine), which hands the decrypted stream back with EnrollPlain;
	// any other is answered 400 "client sent an HTTP request to an HTTPS
	// server" (tls.go).
	TLS func(net.Conn)
	// Direct, if set, answers REST requests on the event loops (keep-alive
	// connections whose requests are plain /apps/… calls); otherwise every
	// non-WebSocket connection goes to net/http. It must not block long:
	// set it only with an engine whose calls stay in memory.
	Direct DirectFunc
	// RESTRequestTimeout bounds each request Direct answers, head and body,
	// from its first byte (default httpwire.DefaultRequestTimeout).
	RESTRequestTimeout time.Duration
	EventLoops         int // default GOMAXPROCS
	// Warnings and errors logged by the transport (most caused by clients:
	// protocol violations, panics some input reached) pass at most LogLimit
	// lines of each kind per LogInterval, then one "suppressed" summary.
	LogLimit    int           // default 10
	LogInterval time.Duration // default 1 minute

	// testHook, if set, is called at the start of every recovered callback
	// (see Transport.recovered) with its name and the Pusher connection's
	// socket id ("" before the handshake); tests make it panic.
	testHook func(where, socketID string)
}

// Transport accepts WebSocket connections and runs them on gnet event loops.
type Transport struct {
	gnet.BuiltinEventEngine
	opts  Options
	log   *slog.Logger
	gopts []gnet.Option

	// Set by Serve.
	engine gnet.Engine
	booted chan struct{}
	// stopped is closed when gnet.Run has returned, with its error in
	// runErr: after Close, or on its own when the engine fails (gnet stops
	// for good when accept fails, e.g. out of descriptors).
	stopped chan struct{}
	runErr  error
	httpLn  *httpListener
	// fdCeiling: an accepted connection whose descriptor number is at least
	// this is closed at once (descriptorCeiling); 0 for no ceiling.
	fdCeiling int

	loops     sync.Map     // gnet.EventLoop → *loop
	loopCount atomic.Int32 // loops made, for their indexes

	// offloop is set when the hub's engine may block: engine calls then run
	// on workers, never on a loop (offloop.go).
	offloop bool
	workers *workers

	regMu   sync.Mutex
	conns   map[*conn]struct{}          // all open conns; guarded by regMu
	waiting map[gnet.Conn]*waitDeadline // accepted but not a Pusher connection (yet), or one failed and lingering (conn.fail); guarded by regMu

	draining atomic.Bool
	live     liveness // alive.go
	stop     chan struct{}
	done     chan struct{}

	outbound     atomic.Int64  // bytes held for all conns (sum of conn.held)
	overBudget   chan struct{} // cap 1: outbound went over MaxOutboundBytes
	budgetDone   chan struct{} // closed when enforceBudget returns
	budgetClosed atomic.Int64  // connections closed by the budget
	fdRefused    atomic.Int64  // connections closed on accept near the descriptor limit
	heldIn       atomic.Int64  // bytes held for requests still arriving (hold)
	budgetLogged int64         // unix nanos of the last budget warning; enforceBudget only

	stats connStats  // stats.go
	mem   memRelease // memory.go

	httpIn, httpOut atomic.Int64 // bytes of connections served by net/http (replayConn)
}

// New returns a transport; Serve starts its event loops. Call Close to stop them.
func New(opts Options) (*Transport, error) {
	if opts.Hub == nil || opts.Apps == nil {
		return nil, errors.New("wsconn: Hub and Apps are required")
	}
	setDefault(&opts.ActivityTimeout, 120*time.Second)
	setDefault(&opts.PongTimeout, 30*time.Second)
	setDefault(&opts.RESTRequestTimeout, httpwire.DefaultRequestTimeout)
	setDefault(&opts.UserAuthTimeout, 30*time.Second)
	setDefaultInt(&opts.MaxMessageBytes, 64<<10)
	setDefaultInt(&opts.MaxPendingBytes, 1<<20)
	setDefaultInt(&opts.MaxOutboundBytes, 192<<20)
	setDefaultInt(&opts.MaxEventBytes, 10<<10)
	setDefaultInt(&opts.MaxChannelNameLen, 200)
	setDefaultInt(&opts.MaxEventNameLen, protocol.DefaultMaxEventNameLen)
	setDefaultInt(&opts.MaxSubscriptions, 10_000)
	setDefaultInt(&opts.LogLimit, 10)
	setDefault(&opts.LogInterval, time.Minute)
	if opts.MaxSubscribesPerSecond == 0 {
		opts.MaxSubscribesPerSecond = 20
	}
	setDefaultInt(&opts.SubscribeBurst, 100)
	setDefaultInt(&opts.MaxHistoryReplay, 100)
	setDefaultInt(&opts.EngineWorkers, defaultWorkers)
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Log = slog.New(lograte.New(opts.Log.Handler(), opts.LogLimit, opts.LogInterval))
	t := &Transport{opts: opts, log: opts.Log.With("component", "wsconn"),
		conns: make(map[*conn]struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	t.waiting = make(map[gnet.Conn]*waitDeadline)
	t.overBudget = make(chan struct{}, 1)
	t.budgetDone = make(chan struct{})
	t.offloop = opts.Hub.Blocking()
	t.workers = &workers{max: opts.EngineWorkers, log: t.log.Error}
	t.gopts = []gnet.Option{gnet.WithMulticore(true), gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		// Register (late upgrades) needs a balancer that is safe to call anytime.
		gnet.WithLoadBalancing(gnet.LeastConnections),
		// Rebind at once after a restart despite connections in TIME_WAIT.
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{opts.Log.With("component", "gnet")}), gnet.WithReadBufferCap(64 << 10)}
	if opts.EventLoops > 0 {
		t.gopts = append(t.gopts, gnet.WithNumEventLoop(opts.EventLoops))
	}
	go t.sweep()
	go t.enforceBudget()
	return t, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func setDefaultInt(d *int, v int) {
	if *d <= 0 {
		*d = v
	}
}

// admit checks the protocol version and the app key (protocol.md §1.1).
func (t *Transport) admit(key string, q url.Values) (*apps.App, *protocol.Error) {
	p := q.Get("protocol")
	if p == "" {
		return nil, protocol.ErrNoProtocol
	}
	v, err := strconv.Atoi(p)
	if err != nil {
		return nil, protocol.ErrInvalidVersion
	}
	if v < 4 || v > 7 {
		return nil, protocol.ErrUnsupportedVersion
	}
	app, err := t.opts.Apps.ByKey(key)
	if err != nil {
		return nil, &protocol.Error{Code: protocol.CodeAppNotFound,
			Message: "App key " + key + " not in this cluster. Did you forget to specify the cluster?"}
	}
	if !app.Enabled {
		return nil, protocol.ErrAppDisabled
	}
	return app, nil
}

// newSocketID returns an unguessable id matching ^\d+\.\d+$.
func newSocketID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	hi := binary.LittleEndian.Uint32(b[:4]) % 1_000_000_000
	lo := binary.LittleEndian.Uint32(b[4:])
	buf := make([]byte, 0, 21)
	buf = strconv.AppendUint(buf, uint64(hi), 10)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, uint64(lo), 10)
	return string(buf)
}

// OnOpen runs on the loop for every new socket: an accepted one waits for
// its first request (handshake); an enrolled late upgrade (context *conn)
// gets its pipelined bytes parsed.
func (t *Transport) OnOpen(gc gnet.Conn) (_ []byte, action gnet.Action) {
	if k, ok := gc.Context().(*kickConn); ok {
		k.opened()
		return nil, gnet.None
	}
	defer t.recovered("open", gc, &action)
	if t.opts.testHook != nil {
		t.opts.testHook("open", "")
	}
	c, ok := gc.Context().(*conn)
	if !ok {
		if t.fdCeiling > 0 && gc.Fd() >= t.fdCeiling {
			t.fdRefused.Add(1)
			t.log.Warn("connection refused: the process is near its descriptor limit (raise LimitNOFILE / ulimit -n)", "fd", gc.Fd())
			return nil, gnet.Close
		}
		d := &waitDeadline{}
		d.set(10 * time.Second)
		peer, _ := gc.Context().(*Peer) // enrolled with EnrollPlain
		gc.SetContext(&pendingConn{waitDeadline: d, peer: peer})
		t.loopFor(gc.EventLoop()) // known to Alive from the first connection on
		t.regMu.Lock()
		t.waiting[gc] = d
		t.regMu.Unlock()
		return nil, gnet.None
	}
	c.gc = gc
	c.loop = t.loopFor(gc.EventLoop())
	c.touch()
	t.register(c)
	// connection_established went out with the 101 response.
	if c.rare != nil && len(c.rare.early) > 0 {
		c.rare.pendingEarly = true
		c.Send(nil) // schedule a pass that parses the early bytes
	}
	return nil, gnet.None
}

func (t *Transport) register(c *conn) {
	t.regMu.Lock()
	t.conns[c] = struct{}{}
	delete(t.waiting, c.gc)
	t.regMu.Unlock()
	t.stats.opened.Add(1)
}

// OnTraffic parses and handles every complete frame in the inbound buffer.
func (t *Transport) OnTraffic(gc gnet.Conn) (action gnet.Action) {
	defer t.recovered("traffic", gc, &action)
	if k, ok := gc.Context().(*kickConn); ok {
		k.traffic(gc) // not a client's bytes: not counted
		return gnet.None
	}
	if t.opts.testHook != nil {
		id := ""
		if c, ok := gc.Context().(*conn); ok {
			id = c.socketID
		}
		t.opts.testHook("traffic", id)
	}
	in := gc.InboundBuffered()
	action = t.traffic(gc)
	t.countIn(gc, in-gc.InboundBuffered())
	return action
}

func (t *Transport) traffic(gc gnet.Conn) gnet.Action {
	switch c := gc.Context().(type) {
	case *conn:
		c.touch()
		return c.loop.traffic(c)
	case *pendingConn:
		return t.handshake(gc)
	case *restConn:
		return t.serveREST(gc)
	default: // draining or ejected
		_, _ = gc.Discard(-1)
		return gnet.None
	}
}

// OnClose releases the connection's registration, then its subscriptions
// (a panic in that cleanup leaves the registry right).
func (t *Transport) OnClose(gc gnet.Conn, err error) (action gnet.Action) {
	if k, ok := gc.Context().(*kickConn); ok {
		k.closed()
		return gnet.None
	}
	defer t.recovered("close", nil, &action)
	switch pc := gc.Context().(type) {
	case *restConn:
		t.unhold(&pc.held)
	case *pendingConn:
		t.unhold(&pc.held)
	}
	c, ok := gc.Context().(*conn)
	t.regMu.Lock()
	delete(t.waiting, gc) // a pending connection, or a failed one lingering
	if ok {
		delete(t.conns, c)
	}
	t.regMu.Unlock()
	if !ok {
		return gnet.None
	}
	if t.opts.testHook != nil {
		t.opts.testHook("close", c.socketID)
	}
	reason := c.markClosed()
	if reason == "" {
		reason = "client closed"
		if err != nil {
			reason = err.Error()
		}
	}
	c.release(reason)
	return gnet.None
}

// recovered is deferred by every callback that handles one connection's
// input or cleanup (OnOpen, OnTraffic, OnClose, the loop's flush, the
// sweeper's per-connection step). A panic - a bug some input reached - is
// logged (rate-limited like every warning) and closes that connection alone:
// with action set to gnet.Close when the callback returns one, else through
// gc.Close (gc nil: nothing to close). The loop, the process and every other
// connection carry on. It also calls Options.testHook for tests.
func (t *Transport) recovered(where string, gc gnet.Conn, action *gnet.Action) {
	r := recover()
	if r == nil {
		return
	}
	t.log.Error("panic in a connection callback; connection closed", "in", where, "panic", r, "stack", string(debug.Stack()))
	switch {
	case action != nil:
		*action = gnet.Close
	case gc != nil:
		_ = gc.Close()
	}
}

func (t *Transport) loopFor(el gnet.EventLoop) *loop {
	if l, ok := t.loops.Load(el); ok {
		return l.(*loop)
	}
	l, _ := t.loops.LoadOrStore(el, newLoop(el, int(t.loopCount.Add(1)-1), t.stop))
	return l.(*loop)
}

// ConnectionCount returns the number of open sockets on this node.
func (t *Transport) ConnectionCount() int {
	t.regMu.Lock()
	defer t.regMu.Unlock()
	return len(t.conns)
}

// sweep pings idle connections and closes those that stay silent
// (protocol.md §3.2): after ActivityTimeout of silence a JSON pusher:ping and
// a WebSocket ping frame; after PongTimeout more, close with 4201.
func (t *Transport) sweep() {
	defer close(t.done)
	period := min(t.opts.ActivityTimeout/4, time.Second)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var batch []*conn
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		t.live.sweptAt.Store(now)
		t.mem.tick(t.stats.opened.Load())
		idle := int64(t.opts.ActivityTimeout)
		pong := int64(t.opts.PongTimeout)
		batch = batch[:0]
		var expired []gnet.Conn
		t.regMu.Lock()
		for c := range t.conns {
			batch = append(batch, c)
		}
		for gc, d := range t.waiting {
			if now > d.at.Load() {
				expired = append(expired, gc)
				delete(t.waiting, gc)
			}
		}
		t.regMu.Unlock()
		for _, gc := range expired {
			_ = gc.Close() // slow or silent before its first request, or done draining
		}
		for _, c := range batch {
			t.sweepOne(c, now, idle, pong)
		}
	}
}

// sweepOne pings c if it is idle, or closes it if it did not answer.
func (t *Transport) sweepOne(c *conn, now, idle, pong int64) {
	defer t.recovered("sweep", c.gc, nil)
	if t.opts.testHook != nil {
		t.opts.testHook("sweep", c.socketID)
	}
	seen := c.lastSeen.Load()
	pinged := c.pingedAt.Load()
	switch {
	case c.authExpired(now):
		c.Close(protocol.ErrNotAuthorizedInTime)
	case pinged != 0 && now-pinged > pong:
		c.Close(protocol.ErrPongTimeout)
	case pinged == 0 && now-seen > idle:
		c.pingedAt.Store(now)
		c.ping()
	}
}

// Draining reports whether Shutdown has begun.
func (t *Transport) Draining() bool { return t.draining.Load() }

// Shutdown refuses new WebSocket connections (they get 4200 right after the
// upgrade, so clients go to another node), then closes every socket with 4200
// spread evenly over window so the other nodes see no thundering herd.
func (t *Transport) Shutdown(ctx context.Context, window time.Duration) {
	t.draining.Store(true)
	t.regMu.Lock()
	list := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		list = append(list, c)
	}
	t.regMu.Unlock()
	step := time.Duration(0)
	if len(list) > 0 {
		step = window / time.Duration(len(list))
	}
	for i, c := range list {
		c.Close(protocol.ErrShutdown)
		if step > 0 && i < len(list)-1 {
			select {
			case <-ctx.Done():
				step = 0
			case <-time.After(step):
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for t.ConnectionCount() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// Close stops the sweeper and the event loops.
func (t *Transport) Close() error {
	select {
	case <-t.stop:
		return nil
	default:
	}
	close(t.stop)
	<-t.done
	<-t.budgetDone
	if t.httpLn != nil {
		_ = t.httpLn.Close()
	}
	return t.stopEngine()
}
