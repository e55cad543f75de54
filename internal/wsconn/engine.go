package wsconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/httpwire"
)

// Serve binds addr with a gnet engine and returns the listener net/http must
// serve. Every connection is accepted on an event loop: one whose first
// request starts with "GET /app/" is upgraded right there (no goroutine, no
// descriptor hand-over); any other is handed to net/http with the bytes
// already read. Serve must be called once, before ServeHTTP.
func (t *Transport) Serve(addr string) (net.Listener, error) {
	hl := &httpListener{conns: make(chan net.Conn), done: make(chan struct{})}
	t.httpLn = hl
	booted := make(chan struct{})
	t.booted = booted
	t.fdCeiling = descriptorCeiling()
	errc := make(chan error, 1)
	go func() { errc <- gnet.Run(t, "tcp://"+addr, t.gopts...) }()
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("engine stopped at once")
		}
		return nil, fmt.Errorf("wsconn: listen %s: %w", addr, err)
	case <-booted:
	}
	t.stopped = make(chan struct{})
	go func() {
		t.runErr = <-errc
		close(t.stopped)
	}()
	fd, err := t.engine.Dup()
	if err != nil {
		return nil, fmt.Errorf("wsconn: listener address: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	_ = unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("wsconn: listener address: %w", err)
	}
	hl.addr = tcpAddr(sa)
	return hl, nil
}

func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// OnBoot records the engine.
func (t *Transport) OnBoot(eng gnet.Engine) gnet.Action {
	t.engine = eng
	close(t.booted)
	return gnet.None
}

// pendingConn is the context of an accepted connection whose first request
// has not arrived in full yet.
type pendingConn struct {
	*waitDeadline
	peer *Peer // set for a connection enrolled with EnrollPlain (tls.go)
	held int64 // its bytes in Transport.heldIn (hold)
}

// drainingConn is the context of a connection answered with an HTTP error:
// its write side is shut; what it still sends is discarded until it closes
// (or the sweeper closes it), so the kernel does not reset it over unread
// input before the client reads the answer.
type drainingConn struct {
	*waitDeadline
	rest bool // after a refused REST request, else a refused handshake (bytes.go)
}

// waitDeadline is when the sweeper closes a connection that is not (yet) a
// Pusher connection. The loop moves it without a lock (it is one per
// connection, registered in Transport.waiting once); the sweeper reads it.
type waitDeadline struct{ at atomic.Int64 }

func (d *waitDeadline) set(in time.Duration) { d.at.Store(time.Now().Add(in).UnixNano()) }

// ejected marks a connection handed to net/http; its gnet copy just closes.
type ejected struct{}

var crlfcrlf = []byte("\r\n\r\n")

// handshake handles the first request of an accepted connection. Loop only.
func (t *Transport) handshake(gc gnet.Conn) gnet.Action {
	buf, _ := gc.Peek(-1)
	if action, handled := t.tlsGate(gc, gc.Context().(*pendingConn), buf); handled {
		return action
	}
	n := min(len(buf), len(appPrefix))
	if !bytes.Equal(buf[:n], appPrefix[:n]) {
		pc := gc.Context().(*pendingConn)
		t.unhold(&pc.held)
		if t.opts.Direct != nil && (bytes.HasPrefix(buf, []byte("POST /apps/")) || bytes.HasPrefix(buf, []byte("GET /apps/"))) {
			gc.SetContext(&restConn{waitDeadline: pc.waitDeadline, peer: pc.peer})
			return t.serveREST(gc)
		}
		return t.eject(gc, buf)
	}
	if n < len(appPrefix) {
		return gnet.None
	}
	pc := gc.Context().(*pendingConn)
	// The upgrade request is held to the REST path's HTTP framing limits
	// (request line 414; head size and field count 431; CRLF lines, no
	// control characters: 400), however its bytes arrived.
	if req, v := httpwire.Parse(buf, httpwire.Limits{}); v == httpwire.Refuse {
		t.unhold(&pc.held)
		return t.httpError(gc, req.Status, req.Reason)
	}
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		if !t.hold(&pc.held, len(buf)) {
			t.unhold(&pc.held)
			return t.httpError(gc, http.StatusServiceUnavailable, busyReason)
		}
		return gnet.None
	}
	t.unhold(&pc.held)
	head := buf[:end+4]
	if repeatedHeader(head, secWebSocketKey) {
		return t.httpError(gc, http.StatusBadRequest, "bad Sec-WebSocket-Key header: given more than once")
	}
	l := t.loopFor(gc.EventLoop())
	hs := l.upgrader()
	hs.uri, hs.origin = "", ""
	hs.rd.Reset(head)
	hs.out.b = getBuf()
	_, err := hs.u.Upgrade(hs)
	uri, origin := hs.uri, hs.origin
	out := outBuf{b: hs.out.b}
	hs.rd.Reset(nil)
	hs.out.b = nil // handed on below; the next handshake takes a new buffer
	_, _ = gc.Discard(len(head))
	if err != nil {
		defer putBuf(out.b)
		if errors.Is(err, ws.ErrHandshakeBadUpgrade) || errors.Is(err, ws.ErrHandshakeBadConnection) {
			return t.httpError(gc, http.StatusUpgradeRequired, "this endpoint speaks the Pusher protocol over WebSocket")
		}
		if len(out.b) > 0 {
			t.countOut(gc, kindWebSocket, len(out.b))
			_, _ = gc.Write(out.b)
			return t.drain(gc)
		}
		return t.httpError(gc, http.StatusBadRequest, "malformed handshake request")
	}
	path, rawQuery, _ := strings.Cut(uri, "?")
	query, _ := url.ParseQuery(rawQuery)
	c, out2, ok := t.admitConn(out.b, request{path: path, query: query, origin: origin})
	if !ok {
		t.countOut(gc, kindWebSocket, len(out2))
		_, _ = gc.Write(out2)
		putBuf(out2)
		return gnet.Close
	}
	c.gc = gc
	c.loop = l
	c.touch()
	gc.SetContext(c)
	t.register(c) // also ends the handshake deadline
	c.wrote(len(out2))
	_, _ = gc.Write(out2)
	putBuf(out2)
	if gc.InboundBuffered() > 0 {
		return c.loop.traffic(c)
	}
	return gnet.None
}

// upgradeState is a loop's scratch for WebSocket handshakes: the Upgrader
// and its callbacks are made once per loop, not per connection. Loop-owned.
type upgradeState struct {
	u           ws.Upgrader
	uri, origin string
	rd          bytes.Reader
	out         outBuf
}

func (h *upgradeState) Read(p []byte) (int, error)  { return h.rd.Read(p) }
func (h *upgradeState) Write(p []byte) (int, error) { return h.out.Write(p) }

// upgrader returns the loop's handshake scratch. Loop only.
func (l *loop) upgrader() *upgradeState {
	if l.hs != nil {
		return l.hs
	}
	h := &upgradeState{}
	h.u = ws.Upgrader{
		Protocol:  func(p []byte) bool { return bytes.HasPrefix(p, pusherSubprotocol) },
		OnRequest: func(b []byte) error { h.uri = string(b); return nil },
		OnHeader: func(k, v []byte) error {
			if h.origin == "" && bytes.EqualFold(k, []byte("Origin")) {
				h.origin = string(v)
			}
			return nil
		},
	}
	l.hs = h
	return h
}

// eject hands an accepted connection that is not a WebSocket upgrade to
// net/http, replaying the bytes the loop has read. Loop only.
func (t *Transport) eject(gc gnet.Conn, buf []byte) gnet.Action {
	nc, err := fileConn(gc.Fd())
	if err != nil {
		t.log.Warn("hand connection to net/http", "err", err)
		return gnet.Close
	}
	pre := append([]byte(nil), buf...)
	peer := peerOf(gc)
	_, _ = gc.Discard(-1)
	gc.SetContext(ejected{})
	t.regMu.Lock()
	delete(t.waiting, gc)
	t.regMu.Unlock()
	go t.httpLn.deliver(&replayConn{Conn: nc, pre: pre, peer: peer, in: &t.httpIn, out: &t.httpOut})
	return gnet.Close
}

// fileConn returns a net.Conn on a duplicate of fd (net.FileConn duplicates
// again and owns its copy).
func fileConn(fd int) (net.Conn, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "tcp")
	defer f.Close()
	return net.FileConn(f)
}

// httpError answers an HTTP error and drains. Loop only.
func (t *Transport) httpError(gc gnet.Conn, status int, msg string) gnet.Action {
	b := httpErrorBytes(status, msg)
	t.countOut(gc, kindWebSocket, len(b))
	_, _ = gc.Write(b)
	return t.drain(gc)
}

func (t *Transport) drain(gc gnet.Conn) gnet.Action {
	_, _ = gc.Discard(-1)
	if err := unix.Shutdown(gc.Fd(), syscall.SHUT_WR); err != nil {
		return gnet.Close
	}
	d := gc.Context().(*pendingConn).waitDeadline // drain follows a handshake error only
	d.set(time.Second)
	gc.SetContext(&drainingConn{waitDeadline: d})
	return gnet.None
}

// replayConn reads pre before the connection, counting the bytes net/http
// reads and writes (Transport.Bytes).
type replayConn struct {
	net.Conn
	pre     []byte
	peer    *Peer         // the client of an enrolled connection (tls.go); nil if accepted
	in, out *atomic.Int64 // Transport.httpIn/httpOut; nil for a TLS stream (counted once decrypted)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		c.count(c.in, n)
		if len(c.pre) == 0 {
			c.pre = nil // not held for the connection's life (a TLS ClientHello: ~2 KB)
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.count(c.in, n)
	return n, err
}

func (c *replayConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.count(c.out, n)
	return n, err
}

// count adds n to to, unless the connection is not counted (nil: a TLS
// stream, whose decrypted bytes are counted once enrolled back).
func (c *replayConn) count(to *atomic.Int64, n int) {
	if to != nil {
		to.Add(int64(n))
	}
}

// enroll hands a hijacked connection (a late upgrade through net/http) to an
// event loop with c as its context.
func (t *Transport) enroll(nc net.Conn, c *conn) error {
	if rc, ok := nc.(*replayConn); ok { // handed to net/http by the loop
		if len(rc.pre) > 0 {
			return errors.New("replayed bytes still unread")
		}
		nc = rc.Conn // gnet takes only *net.TCPConn or *net.UnixConn
	}
	ctx := gnet.NewContext(gnet.NewNetConnContext(context.Background(), nc), c)
	res, err := t.engine.Register(ctx)
	if err != nil {
		return err
	}
	r := <-res
	return r.Err
}

// Stopped is closed when the engine has stopped: after Close, or on its own
// when it failed; StopErr then says why. Nil before Serve.
func (t *Transport) Stopped() <-chan struct{} { return t.stopped }

// StopErr is the engine's error once Stopped is closed (never nil: an engine
// that stopped without one reports ErrEngineStopped).
func (t *Transport) StopErr() error {
	select {
	case <-t.stopped:
	default:
		return nil
	}
	if t.runErr == nil {
		return ErrEngineStopped
	}
	return t.runErr
}

// ErrEngineStopped: the event engine stopped without an error of its own.
var ErrEngineStopped = errors.New("wsconn: the event engine stopped")

// stopEngine stops the engine and waits for gnet.Run to return.
func (t *Transport) stopEngine() error {
	if t.stopped == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Stop starts the shutdown at once but then polls every 500 ms; gnet.Run
	// returning is the real end.
	go func() { _ = t.engine.Stop(ctx) }()
	select {
	case <-t.stopped:
		return t.runErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DescriptorRefused returns how many accepted connections were closed at
// once because the process was near its descriptor limit.
func (t *Transport) DescriptorRefused() int64 { return t.fdRefused.Load() }

// descriptorCeiling is the descriptor number from which an accepted
// connection is closed at once (OnOpen), 0 for none. gnet stops its engine
// for good, every socket with it, when accept fails for want of
// descriptors (EMFILE is fatal there), so that must never happen: the
// kernel hands out the lowest free number, so a connection that got a
// number this high means the table is nearly full, and closing it keeps a
// reserve for everything else the process opens (net/http hand-overs, TLS
// socket pairs, the store, webhooks, Redis) and for the connections the
// reactor accepts before their OnOpen runs. The reserve is 1/512 of the
// limit, at least 32 and at most 1024 (half a limit under 128): small, so
// that a process can hold nearly as many connections as its limit allows
// (19,900 with the common 20,000 — the reserve is then 39), at the price of
// a burst of more than that many connections accepted at once past the
// ceiling still reaching EMFILE (gnet's reactor accepts until the backlog is
// empty, then the loops run OnOpen).
func descriptorCeiling() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY || lim.Cur > 1<<31 {
		return 0
	}
	n := int(lim.Cur)
	if n < 128 {
		return n - n/2
	}
	return n - descriptorReserve(n)
}

// descriptorReserve is how many of a limit of n descriptors are kept back.
func descriptorReserve(n int) int { return min(max(n/512, 32), 1024) }
