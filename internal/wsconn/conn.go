package wsconn

import (
	"context"
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

	mu      sync.Mutex      // guards out, queued, closing, closed
	out     []byte          // encoded frames waiting for the loop
	queued  bool            // in loop.dirty
	closing *protocol.Error // close requested
	closed  bool            // socket closed; Send is a no-op

	// Loop-owned.
	subs       subscriptions
	userID     string // signed-in user
	rateWindow int64  // unix second of the client-event window
	rateCount  int32
	rare       *connRare // state few connections need; nil until used
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
func (c *conn) Send(frame []byte) {
	c.mu.Lock()
	if c.closed || c.closing != nil {
		c.mu.Unlock()
		return
	}
	if frame != nil {
		if len(c.out)+len(frame) > c.t.opts.MaxPendingBytes {
			c.closing = protocol.ErrSlowConsumer
		} else {
			if c.out == nil {
				c.out = getBuf()
			}
			c.out = appendHeader(c.out, opText, len(frame))
			c.out = append(c.out, frame...)
		}
	}
	sched := !c.queued
	c.queued = true
	c.mu.Unlock()
	if sched {
		c.loop.enqueue(c)
	}
}

// sendControl queues a control frame (ping/pong) in order with other frames.
func (c *conn) sendControl(op byte, payload []byte) {
	c.mu.Lock()
	if c.closed || c.closing != nil {
		c.mu.Unlock()
		return
	}
	if c.out == nil {
		c.out = getBuf()
	}
	c.out = appendFrame(c.out, op, payload)
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

// flush writes the pending frames; it runs on the loop.
func (c *conn) flush() {
	c.mu.Lock()
	buf, closing, closed := c.out, c.closing, c.closed
	c.out, c.queued = nil, false
	c.mu.Unlock()
	if closed {
		putBuf(buf)
		return
	}
	if c.rare != nil && c.rare.pendingEarly {
		c.rare.pendingEarly = false
		if act := c.parse(c.rare.early, false); act == gnet.Close {
			closing = c.closing
		}
	}
	if len(buf) > 0 {
		_, _ = c.gc.Write(buf)
	}
	putBuf(buf)
	if closing == nil && c.gc.OutboundBuffered() > c.t.opts.MaxPendingBytes {
		closing = protocol.ErrSlowConsumer
	}
	if closing != nil {
		c.closeNow(closing)
	}
}

// closeNow writes pusher:error and the close frame, then closes. Loop only.
func (c *conn) closeNow(e *protocol.Error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.r().reason = e.Error()
	b := appendFrame(getBuf(), opText, protocol.AppendError(nil, e))
	b = appendClose(b, e.Code, e.Message)
	_, _ = c.gc.Write(b)
	putBuf(b)
	_ = c.gc.Close()
}

// markClosed is called from OnClose; it returns the server's close reason.
func (c *conn) markClosed() string {
	c.mu.Lock()
	c.closed = true
	putBuf(c.out)
	c.out = nil
	c.mu.Unlock()
	if c.rare == nil {
		return ""
	}
	return c.rare.reason
}

// cleanup leaves every channel and signs out. Runs on the loop from OnClose.
func (c *conn) cleanup(reason string) {
	h := c.t.opts.Hub
	ctx := context.Background()
	for _, sub := range c.subs {
		h.Unsubscribe(ctx, c.curApp(), c, sub.channel, sub.userID)
	}
	c.subs = nil
	if c.userID != "" {
		h.SignOut(c.curApp().ID, c, c.userID, c.r().watchlist)
	}
	h.Disconnect(c.curApp(), c, reason)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if b == nil || cap(b) > 64<<10 {
		return
	}
	bufPool.Put(&b)
}

// curApp returns the connection's app as last published by AppsChanged.
func (c *conn) curApp() *apps.App { return c.app.Load() }
