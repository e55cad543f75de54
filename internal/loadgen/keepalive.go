package loadgen

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Keeping connections open like pusher-js does (protocol.md §3.2): a client
// that has received nothing for the activity timeout sends pusher:ping, and
// any traffic from the server counts as the answer. Servers differ in who
// keeps the connection alive: Pixiu pings idle clients itself (the engine
// answers pusher:ping and WebSocket pings in consume), soketi pings nobody
// and closes with 4201 a connection it has sent nothing to for 120 s, so an
// idle subscriber must ping it.
const (
	// clientActivityTimeout is pusher-js's activityTimeout default; the
	// client uses the smaller of it and the server's activity_timeout.
	clientActivityTimeout = 120 * time.Second
	// pongTimeout is pusher-js's pongTimeout: a ping unanswered this long is
	// counted as missed (pusher-js would reconnect; the tool keeps the
	// connection and reports it).
	pongTimeout = 30 * time.Second
)

// pingFrame is the masked client frame carrying pusher:ping, shared by every
// connection: AsyncWrite only reads it.
var pingFrame = appendClientFrame(nil, opText, []byte(`{"event":"pusher:ping","data":{}}`))

// keepalive tracks the enrolled connections of one engine and pings those
// that have been silent for the activity timeout. One goroutine for all of
// them: a pass reads two atomics per connection.
type keepalive struct {
	activity atomic.Int64 // nanos; 0 until a server said (then min of clientActivityTimeout and its value)
	pings    atomic.Int64 // pusher:ping sent by the tool
	missed   atomic.Int64 // pings with no traffic back within pongTimeout

	mu    sync.Mutex
	conns []kaConn // guarded by mu; wsConn.ka is the index
	stop  chan struct{}
	done  chan struct{}
}

type kaConn struct {
	c  gnet.Conn
	wc *wsConn
}

// setActivity records the server's activity_timeout (seconds) from a
// connection_established.
func (k *keepalive) setActivity(sec int64) {
	d := clientActivityTimeout
	if sec > 0 && time.Duration(sec)*time.Second < d {
		d = time.Duration(sec) * time.Second
	}
	for {
		cur := k.activity.Load()
		if cur != 0 && cur <= int64(d) {
			return
		}
		if k.activity.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

func (k *keepalive) add(c gnet.Conn, wc *wsConn) {
	k.mu.Lock()
	wc.ka = len(k.conns)
	k.conns = append(k.conns, kaConn{c, wc})
	k.mu.Unlock()
}

func (k *keepalive) remove(wc *wsConn) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := wc.ka
	if i < 0 || i >= len(k.conns) || k.conns[i].wc != wc {
		return
	}
	last := len(k.conns) - 1
	k.conns[i] = k.conns[last]
	k.conns[i].wc.ka = i
	k.conns[last] = kaConn{}
	k.conns = k.conns[:last]
	wc.ka = -1
}

func (k *keepalive) start() {
	k.stop, k.done = make(chan struct{}), make(chan struct{})
	go k.run()
}

func (k *keepalive) close() {
	close(k.stop)
	<-k.done
}

func (k *keepalive) run() {
	defer close(k.done)
	t := time.NewTicker(keepaliveTick(time.Duration(k.activity.Load())))
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case now := <-t.C:
			k.pass(now.UnixNano())
			t.Reset(keepaliveTick(time.Duration(k.activity.Load())))
		}
	}
}

// keepaliveTick is how often the connections are checked: a quarter of the
// activity timeout, between 50 ms and 1 s.
func keepaliveTick(activity time.Duration) time.Duration {
	return min(max(activity/4, 50*time.Millisecond), time.Second)
}

// pass pings each connection silent for the activity timeout that has no
// ping outstanding, and counts pings left unanswered for pongTimeout.
func (k *keepalive) pass(now int64) {
	activity := k.activity.Load()
	if activity == 0 {
		activity = int64(clientActivityTimeout)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kc := range k.conns {
		wc := kc.wc
		pinged := wc.pinged.Load()
		switch {
		case pinged == 0 && now-wc.heard.Load() >= activity:
			if wc.pinged.CompareAndSwap(0, now) && kc.c.AsyncWrite(pingFrame, nil) == nil {
				k.pings.Add(1)
			}
		case pinged > 0 && now-pinged >= int64(pongTimeout):
			if wc.pinged.CompareAndSwap(pinged, -1) { // counted once; traffic clears it
				k.missed.Add(1)
			}
		}
	}
}

// heard marks traffic from the server on wc: it answers any ping.
func (wc *wsConn) heardAt(now int64) {
	wc.heard.Store(now)
	if wc.pinged.Load() != 0 {
		wc.pinged.Store(0)
	}
}

// addKeepalive reports the keep-alive traffic of an engine.
func (e *engine) addKeepalive(r *report) {
	r.add("pings_sent", e.ka.pings.Load())
	r.add("pongs_received", e.pongs.Load())
	r.add("pings_unanswered", e.ka.missed.Load())
	r.add("server_pings_answered", e.serverPings.Load())
}
