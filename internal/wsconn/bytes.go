package wsconn

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// Traffic kinds counted by the event loops.
const (
	kindWebSocket = iota // Pusher connections, their handshake included
	kindREST             // REST requests answered on the loops (Options.Direct)
	kinds
)

// byteCounts are one loop's bytes by kind: each is added to by its loop
// alone (one uncontended atomic add per read callback or write), and read
// at scrape time.
type byteCounts struct {
	in, out [kinds]atomic.Int64
}

// Bytes are this node's bytes read and written on the public port, by path.
type Bytes struct {
	WebSocketIn, WebSocketOut int64 // Pusher connections on the event loops, handshakes included
	RESTIn, RESTOut           int64 // REST requests answered on the event loops
	HTTPIn, HTTPOut           int64 // connections served by net/http (console, demo, metrics, REST it serves)
}

// Bytes returns the bytes read and written since the start.
func (t *Transport) Bytes() Bytes {
	b := Bytes{HTTPIn: t.httpIn.Load(), HTTPOut: t.httpOut.Load()}
	t.loops.Range(func(_, v any) bool {
		c := &v.(*loop).bytes
		b.WebSocketIn += c.in[kindWebSocket].Load()
		b.WebSocketOut += c.out[kindWebSocket].Load()
		b.RESTIn += c.in[kindREST].Load()
		b.RESTOut += c.out[kindREST].Load()
		return true
	})
	return b
}

// countIn adds n bytes read by gc in one OnTraffic call to its loop's count,
// by what the connection is now. A connection handed to net/http is counted
// there (replayConn replays the bytes read here). Loop only.
func (t *Transport) countIn(gc gnet.Conn, n int) {
	if n <= 0 {
		return
	}
	kind := kindWebSocket
	var l *loop
	switch c := gc.Context().(type) {
	case *conn:
		l = c.loop
	case *restConn:
		kind = kindREST
	case *drainingConn:
		if c.rest {
			kind = kindREST
		}
	case ejected:
		return
	}
	if l == nil {
		l = t.loopFor(gc.EventLoop())
	}
	l.bytes.in[kind].Add(int64(n))
}

// countOut adds n bytes written to gc (not a Pusher connection yet, or a
// REST one) to its loop's count. Loop only.
func (t *Transport) countOut(gc gnet.Conn, kind, n int) {
	t.loopFor(gc.EventLoop()).bytes.out[kind].Add(int64(n))
}

// wrote counts n bytes written to c's socket. Loop only.
func (c *conn) wrote(n int) { c.loop.bytes.out[kindWebSocket].Add(int64(n)) }
