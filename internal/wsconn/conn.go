package wsconn

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

var _ hub.Client = (*conn)(nil)

// conn is one Pusher connection.
type conn struct {
	t        *Transport
	app      atomic.Pointer[apps.App] // current app; replaced by AppsChanged
	socketID string
	gc       gnet.Conn // set in OnOpen; loop-owned
	loop     *loop

	lastSeen atomic.Int64 // unix nanos of the last inbound traffic
	pingedAt atomic.Int64 // unix nanos of the server's unanswered ping, 0 if none
	authBy   atomic.Int64 // authorized.go: unix nanos by which to authorize, 0 if authorized or not asked

	mu      sync.Mutex      // guards out, inGnet, queued, closing, closed
	out     pending         // encoded frames not yet handed to gnet
	inGnet  int32           // bytes in gnet's outbound buffer at the last loop check (an upper bound until the next)
	queued  bool            // in loop.dirty
	closed  bool            // close frame written or socket closed; Send is a no-op
	closing *protocol.Error // close requested

	// held is what this connection counts in Transport.outbound: len(out) +
	// inGnet as of the last loop check. Written by the loop, read by the
	// budget enforcer.
	held atomic.Int64

	// Loop-owned.
	subs       subscriptions
	userID     string // signed-in user
	rateWindow int64  // unix second of the client-event window
	rateCount  int32
	busy       bool       // an engine call is in flight (offloop.go)
	subRate    subLimiter // subscribe/unsubscribe rate (subs.go)
	rare       *connRare  // state few connections need; nil until used
}

// connRare is loop-owned connection state that most connections never need;
// keeping it out of conn saves memory per idle connection.
type connRare struct {
	early        []byte    // bytes pipelined behind the handshake
	pendingEarly bool      // early must be parsed on the first flush
	rd           readState // the frame parser's state across reads (read.go)
	userInfo     []byte    // signed-in user's user_info
	watchlist    []string
	reason       string // why the server closed the connection
	closeCode    int    // the close frame's code, sent or received (0: none)

	// Outbound watch (outbound.go): set while bytes wait in out or in gnet.
	watched  bool  // in loop.watched
	checkAt  int64 // unix nanos of the next check
	backoff  int64 // nanos between checks while the peer makes no progress
	lastHeld int   // out + gnet bytes at the previous check
	closeBy  int64 // unix nanos: close frame written, close the socket by then (0: not closing)

	// Messages received while an engine call was in flight, in order
	// (offloop.go), and a close that came meanwhile.
	waiting         [][]byte
	waitingBytes    int
	closedWhileBusy bool
	closeReason     string
}

// r returns the rare state, allocating it on first use. Loop only.
func (c *conn) r() *connRare {
	if c.rare == nil {
		c.rare = &connRare{}
	}
	return c.rare
}

// SocketID implements hub.Client.
func (c *conn) SocketID() string { return c.socketID }

func (c *conn) touch() {
	c.lastSeen.Store(time.Now().UnixNano())
	c.pingedAt.Store(0)
}

// Send implements hub.Client: it appends a text frame and schedules a flush.
func (c *conn) Send(frame []byte) { c.queue(opText, frame, frame != nil) }

// SendTracked implements hub.Client: d is released after the loop pass
// that writes the frame (loop.track).
func (c *conn) SendTracked(frame []byte, d *hub.Delivery) {
	c.queue(opText, frame, true)
	if d != nil {
		c.loop.track(d)
	}
}

// sendControl queues a control frame (ping/pong) in order with other frames.
func (c *conn) sendControl(op byte, payload []byte) { c.queue(op, payload, true) }

// queue appends one frame (unless add is false) and schedules a flush. Every
// byte held for this socket counts once against MaxPendingBytes, Pixiu's
// and gnet's; past it the connection is closed with 4100 instead.
func (c *conn) queue(op byte, payload []byte, add bool) {
	c.mu.Lock()
	if c.closed || c.closing != nil {
		c.mu.Unlock()
		return
	}
	if add {
		if c.out.n+int(c.inGnet)+len(payload) > c.t.opts.MaxPendingBytes {
			c.closing = protocol.ErrSlowConsumer
		} else {
			c.out.appendFrame(op, payload)
		}
	}
	sched := !c.queued
	c.queued = true
	c.mu.Unlock()
	if sched {
		c.loop.enqueue(c)
	}
}

// ping sends the JSON pusher:ping and a WebSocket ping frame: Java and Swift
// answer only frames (protocol.md §3.2).
func (c *conn) ping() {
	c.Send(protocol.AppendEvent(nil, protocol.EventPing, "", "{}", ""))
	c.sendControl(opPing, nil)
}

// Close implements hub.Client.
func (c *conn) Close(e *protocol.Error) {
	c.mu.Lock()
	if c.closed || c.closing != nil {
		c.mu.Unlock()
		return
	}
	c.closing = e
	sched := !c.queued
	c.queued = true
	c.mu.Unlock()
	if sched {
		c.loop.enqueue(c)
	}
}

// flush hands the pending frames to gnet (see writeOut) or closes the
// connection if that was requested. It runs on the loop.
func (c *conn) flush() {
	c.mu.Lock()
	closing, closed := c.closing, c.closed
	c.queued = false
	c.mu.Unlock()
	if closed {
		return
	}
	if c.rare != nil && c.rare.pendingEarly {
		c.rare.pendingEarly = false
		if act := c.parse(c.rare.early, false); act == gnet.Close {
			c.mu.Lock()
			closing = c.closing
			c.mu.Unlock()
		}
	}
	if closing != nil {
		c.closeNow(closing)
		return
	}
	c.writeOut(false)
}

// closeNow writes pusher:error and the close frame, then closes the socket
// once they are sent or after closeFlushTimeout, whichever comes first: a
// peer that never reads cannot keep the socket. Frames still pending are
// written before them, except for a slow consumer, whose backlog is dropped.
// Loop only.
func (c *conn) closeNow(e *protocol.Error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if e == protocol.ErrSlowConsumer {
		c.out.reset() // the backlog is what did not fit
	}
	c.mu.Unlock()
	r := c.r()
	r.reason, r.closeCode = e.Error(), e.Code
	if e.Code == protocol.CodeOverCapacity {
		c.t.stats.slowClosed.Add(1)
	}
	c.handOver(math.MaxInt)
	b := appendFrame(getBuf(), opText, protocol.AppendError(nil, e))
	b = appendClose(b, e.Code, e.Message)
	c.wrote(len(b))
	_, _ = c.gc.Write(b)
	putBuf(b)
	c.closeAfterFlush()
}

// markClosed is called from OnClose; it counts the close by its code and
// returns the server's close reason.
func (c *conn) markClosed() string {
	c.mu.Lock()
	c.closed = true
	c.out.reset()
	c.inGnet = 0
	c.mu.Unlock()
	c.account(0)
	code := 1006 // no close frame either way
	if c.rare != nil && c.rare.closeCode != 0 {
		code = c.rare.closeCode
	}
	c.t.stats.closed[closeCodeIndex(code)].Add(1)
	if c.rare == nil {
		return ""
	}
	return c.rare.reason
}

// release runs cleanup from OnClose, or once the engine call in flight is
// done (offloop.go). Loop only.
func (c *conn) release(reason string) {
	if c.busy {
		r := c.r()
		r.closedWhileBusy, r.closeReason = true, reason
		return
	}
	c.cleanup(reason)
}

// cleanup leaves every channel and signs out, on a worker when the engine
// may block. Loop only.
func (c *conn) cleanup(reason string) {
	h, app, subs, userID := c.t.opts.Hub, c.curApp(), c.subs, c.userID
	var watchlist []string
	if userID != "" {
		watchlist = c.r().watchlist
	}
	c.subs = nil
	leave := func() {
		ctx := context.Background()
		for _, sub := range subs {
			h.Unsubscribe(ctx, app, c, sub.channel, sub.userID)
		}
		if userID != "" {
			h.SignOut(app.ID, c, userID, watchlist)
		}
		h.Disconnect(app, c, reason)
	}
	if c.t.offloop {
		c.busy = true // for good: nothing follows a close
		c.t.workers.submit(leave)
		return
	}
	leave()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuf is the largest buffer kept for reuse: a larger one is
// rare, and dropping it lets the memory go back to the OS instead of
// waiting in the pool.
const maxPooledBuf = 16 << 10

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if b == nil || cap(b) > maxPooledBuf {
		return
	}
	bufPool.Put(&b)
}

// curApp returns the connection's app as last published by AppsChanged.
func (c *conn) curApp() *apps.App { return c.app.Load() }
