package wsconn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Listener accepts on ln and returns the listener net/http should serve.
// Connections whose first request starts with "GET /app/" are upgraded here
// without net/http (cheaper per connection: no server goroutine state, no
// response writer, one write for the 101 and connection_established); every
// other connection is passed on untouched, bytes already read included.
func (t *Transport) Listener(ln net.Listener) net.Listener {
	hl := &httpListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go t.acceptLoop(ln, hl)
	return hl
}

func (t *Transport) acceptLoop(ln net.Listener, hl *httpListener) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			hl.fail(err)
			return
		}
		delay = 0
		go t.sniff(nc, hl)
	}
}

var appPrefix = []byte("GET /app/")

// sniff peeks at the first bytes of a new connection and routes it.
func (t *Transport) sniff(nc net.Conn, hl *httpListener) {
	lim := &headLimiter{conn: nc, left: maxHandshakeBytes, on: true}
	br := getReader(lim)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := br.Peek(len(appPrefix))
	if err == nil && bytes.Equal(head, appPrefix) {
		t.fastUpgrade(nc, br)
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	if len(head) == 0 && err != nil {
		putReader(br)
		_ = nc.Close()
		return
	}
	lim.on = false // net/http applies its own header limits
	hl.deliver(&prefixConn{Conn: nc, r: br})
}

// maxHandshakeBytes bounds the upgrade request read on the fast path.
const maxHandshakeBytes = 64 << 10

var errHandshakeTooLarge = errors.New("wsconn: handshake request too large")

// headLimiter caps how much the fast path reads before the upgrade, so a
// client cannot stream endless headers; on is cleared when the connection is
// handed to net/http.
type headLimiter struct {
	conn net.Conn
	left int
	on   bool
}

func (l *headLimiter) Read(p []byte) (int, error) {
	if !l.on {
		return l.conn.Read(p)
	}
	if l.left <= 0 {
		return 0, errHandshakeTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.conn.Read(p)
	l.left -= n
	return n, err
}

// prefixConn replays bytes sniffed from a connection before reading more.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// httpListener hands sniffed connections to net/http.
type httpListener struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error
}

func (l *httpListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *httpListener) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	l.once.Do(func() { close(l.done) })
}

// Accept implements net.Listener.
func (l *httpListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err == nil {
			return nil, net.ErrClosed
		}
		return nil, l.err
	}
}

// Close implements net.Listener; it stops the accept loop too.
func (l *httpListener) Close() error {
	err := l.ln.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

// Addr implements net.Listener.
func (l *httpListener) Addr() net.Addr { return l.ln.Addr() }

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}
