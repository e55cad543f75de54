package wsconn

import (
	"net"
	"sync"
)

var appPrefix = []byte("GET /app/")

// httpListener hands connections that are not WebSocket upgrades to
// net/http; Serve returns it.
type httpListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *httpListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept implements net.Listener.
func (l *httpListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener. The engine keeps accepting until the
// Transport is closed; connections for net/http are then refused.
func (l *httpListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *httpListener) Addr() net.Addr { return l.addr }
