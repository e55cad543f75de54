package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"

	"github.com/panjf2000/gnet/v2"
)

// TLS on the port (package tlsterm; docs/ARCHITECTURE.md "TLS"). gnet has no
// TLS, so with Options.TLS set an accepted connection whose first byte opens
// a TLS handshake leaves the loop for the terminator, and the terminator
// hands the decrypted stream back through EnrollPlain: a socket that then
// takes exactly the path of a plain connection.

// tlsHandshakeRecord is the first byte of a TLS connection (a handshake
// record: the ClientHello).
const tlsHandshakeRecord = 0x16

// Peer describes the client of a connection enrolled with EnrollPlain.
type Peer struct {
	Addr net.Addr             // the client's address
	TLS  *tls.ConnectionState // nil: not a TLS connection (an in-process client)
}

// EnrollPlain hands nc, a plain stream, to an event loop as if it had been
// accepted on the port: its first request is a WebSocket upgrade, a REST
// call or anything net/http serves. peer is what net/http reports as the
// request's RemoteAddr and TLS. nc must be a *net.TCPConn or *net.UnixConn;
// the transport owns it from now on (gnet takes a duplicate and closes nc).
func (t *Transport) EnrollPlain(nc net.Conn, peer *Peer) error {
	if peer == nil {
		return errors.New("wsconn: EnrollPlain without a peer")
	}
	ctx := gnet.NewContext(gnet.NewNetConnContext(context.Background(), nc), peer)
	res, err := t.engine.Register(ctx)
	if err != nil {
		_ = nc.Close()
		return err
	}
	r := <-res
	return r.Err
}

// handOffTLS gives an accepted connection that opens a TLS handshake to the
// terminator (Options.TLS), replaying the bytes the loop has read. Loop only.
func (t *Transport) handOffTLS(gc gnet.Conn, buf []byte) gnet.Action {
	nc, err := fileConn(gc.Fd())
	if err != nil {
		t.log.Warn("hand connection to TLS", "err", err)
		return gnet.Close
	}
	pre := append([]byte(nil), buf...)
	_, _ = gc.Discard(-1)
	gc.SetContext(ejected{})
	t.regMu.Lock()
	delete(t.waiting, gc)
	t.regMu.Unlock()
	go t.opts.TLS(&replayConn{Conn: nc, pre: pre})
	return gnet.Close
}

// tlsGate routes the first bytes of an accepted connection when the port
// serves TLS: a TLS handshake goes to the terminator, anything else is
// answered 400 (as Go's net/http answers plain HTTP on an HTTPS port).
// Connections enrolled with EnrollPlain pass. It returns handled=false to
// let the plain path go on. Loop only.
func (t *Transport) tlsGate(gc gnet.Conn, pc *pendingConn, buf []byte) (gnet.Action, bool) {
	if t.opts.TLS == nil || pc.peer != nil || len(buf) == 0 {
		return gnet.None, false
	}
	if buf[0] == tlsHandshakeRecord {
		return t.handOffTLS(gc, buf), true
	}
	return t.httpError(gc, http.StatusBadRequest, "client sent an HTTP request to an HTTPS server"), true
}

// peerOf returns the enrolled peer of a connection not yet upgraded (nil
// for one accepted on the port).
func peerOf(gc gnet.Conn) *Peer {
	switch c := gc.Context().(type) {
	case *pendingConn:
		return c.peer
	case *restConn:
		return c.peer
	}
	return nil
}

// RemoteAddr is the client's address for a connection enrolled with a peer.
func (c *replayConn) RemoteAddr() net.Addr {
	if c.peer != nil && c.peer.Addr != nil {
		return c.peer.Addr
	}
	return c.Conn.RemoteAddr()
}

type tlsStateKey struct{}

// ConnContext is for http.Server.ConnContext: it records the TLS state of a
// connection the loops terminated, for WithTLSState.
func ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if rc, ok := nc.(*replayConn); ok && rc.peer != nil && rc.peer.TLS != nil {
		return context.WithValue(ctx, tlsStateKey{}, rc.peer.TLS)
	}
	return ctx
}

// WithTLSState sets r.TLS for requests on connections the terminator
// decrypted (net/http sets it only for a *tls.Conn it holds itself), so
// handlers see HTTPS as HTTPS (Secure cookies, wss:// snippets).
func WithTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				r.TLS = st
			}
		}
		h.ServeHTTP(w, r)
	})
}
