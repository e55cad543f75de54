package wsconn

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// request is what the upgrade needs from an HTTP request, whichever path
// (the fast accept path or net/http) parsed it.
type request struct {
	path   string // URL path, e.g. /app/app-key
	query  url.Values
	header http.Header // net/http path only
	origin string      // the Origin header, "" when absent
}

const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455 §1.3

// validUpgrade reports why a request is not a WebSocket handshake, or "".
func validUpgrade(h http.Header) string {
	switch {
	case !strings.EqualFold(h.Get("Upgrade"), "websocket"):
		return "expected Upgrade: websocket"
	case !headerHasToken(h.Values("Connection"), "upgrade"):
		return "expected Connection: Upgrade"
	case h.Get("Sec-Websocket-Version") != "13":
		return "unsupported Sec-WebSocket-Version (want 13)"
	case len(h.Values("Sec-Websocket-Key")) != 1 || len(h.Get("Sec-Websocket-Key")) != 24:
		return "bad Sec-WebSocket-Key"
	}
	return ""
}

var secWebSocketKey = []byte("sec-websocket-key:")

// repeatedHeader reports whether the request head (CRLF lines) has more than
// one field named by prefix (lower case, colon included). RFC 6455 §11.3.1:
// Sec-WebSocket-Key must not appear more than once; the upgrade library
// would take the last.
func repeatedHeader(head, prefix []byte) bool {
	seen := false
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix) {
			if seen {
				return true
			}
			seen = true
		}
	}
	return false
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// appendSwitching appends the 101 response (RFC 6455 §4.2.2), selecting a
// pusher-channels-protocol-N sub-protocol when one is offered (protocol.md §1.1).
func appendSwitching(dst []byte, h http.Header) []byte {
	sum := sha1.Sum([]byte(h.Get("Sec-Websocket-Key") + websocketGUID))
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = base64.StdEncoding.AppendEncode(dst, sum[:])
	dst = append(dst, "\r\n"...)
	for _, v := range h.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, "pusher-channels-protocol-") {
				dst = append(dst, "Sec-WebSocket-Protocol: "...)
				dst = append(dst, p...)
				dst = append(dst, "\r\n\r\n"...)
				return dst
			}
		}
	}
	return append(dst, "\r\n"...)
}

// upgrade completes the handshake on nc, then admits the connection: the 101
// response and the first Pusher frame (connection_established, or
// pusher:error + close) go out in one write. early holds bytes the client sent
// behind its handshake. It owns nc from here on.
func (t *Transport) upgrade(nc net.Conn, req request, early []byte) {
	if why := validUpgrade(req.header); why != "" {
		writeHTTPError(nc, http.StatusBadRequest, why)
		return
	}
	t.establish(nc, appendSwitching(getBuf(), req.header), req, early)
}

// establish admits a hijacked connection whose 101 response is in out (not
// yet written), sends it with the first Pusher frame and enrolls the socket.
func (t *Transport) establish(nc net.Conn, out []byte, req request, early []byte) {
	c, out, ok := t.admitConn(out, req)
	_, err := nc.Write(out)
	putBuf(out)
	if !ok || err != nil {
		if ok {
			t.opts.Hub.Disconnect(c.curApp(), c, "handshake write failed")
		}
		_ = nc.Close()
		return
	}
	if len(early) > 0 {
		c.r().early = append([]byte(nil), early...)
	}
	if err := t.enroll(nc, c); err != nil {
		t.opts.Hub.Disconnect(c.curApp(), c, "enroll failed")
		t.log.Warn("enroll connection", "err", err)
		_ = nc.Close()
	}
}

// admitConn checks the path, protocol, app and connection quota. It returns
// the new connection and out with connection_established appended, or
// ok=false and out with pusher:error and the close frame appended
// (protocol.md §1.2: the upgrade always completes first).
func (t *Transport) admitConn(out []byte, req request) (c *conn, _ []byte, ok bool) {
	perr := t.pathError(req.path)
	app := t.admitApp(req, &perr)
	if perr == nil && !app.OriginAllowed(req.origin) {
		perr = protocol.ErrOriginNotAllowed
	}
	if perr == nil {
		c = &conn{t: t, socketID: newSocketID()}
		c.app.Store(app)
		c.startAuthDeadline(app)
		perr = t.opts.Hub.Connect(app, c)
	}
	if perr != nil {
		out = appendFrame(out, opText, protocol.AppendError(nil, perr))
		return nil, appendClose(out, perr.Code, perr.Message), false
	}
	data := protocol.ConnectionEstablishedData(c.socketID, int(t.opts.ActivityTimeout/time.Second))
	return c, appendFrame(out, opText, protocol.AppendEvent(nil, protocol.EventConnectionEstablished, "", data, "")), true
}

// pathError returns 4005 unless path is /app/{key}.
func (t *Transport) pathError(path string) *protocol.Error {
	rest, ok := strings.CutPrefix(path, "/app/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return protocol.ErrPathNotFound
	}
	return nil
}

// admitApp checks draining, the protocol version and the app key unless
// *perr is already set (protocol.md §1.1–§1.3).
func (t *Transport) admitApp(req request, perr **protocol.Error) *apps.App {
	if *perr != nil {
		return nil
	}
	if t.draining.Load() {
		*perr = protocol.ErrShutdown
		return nil
	}
	app, e := t.admit(strings.TrimPrefix(req.path, "/app/"), req.query)
	*perr = e
	return app
}

func writeHTTPError(nc net.Conn, status int, msg string) {
	_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = nc.Write(httpErrorBytes(status, msg))
	lingerClose(nc)
}

func httpErrorBytes(status int, msg string) []byte {
	return []byte("HTTP/1.1 " + itoa(status) + " " + http.StatusText(status) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " + itoa(len(msg)+1) + "\r\n\r\n" + msg + "\n")
}

// lingerClose closes after the client has read our answer: it shuts down the
// write side and drains (briefly, boundedly) what the client still sends, so
// the kernel does not reset the connection over unread input.
func lingerClose(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.CopyN(io.Discard, nc, 1<<20)
	}
	_ = nc.Close()
}

// ServeHTTP upgrades GET /app/{key} requests that reach net/http (e.g. on a
// keep-alive connection that first carried a REST call). The fast path in
// Listener handles connections whose first request is the upgrade.
func (t *Transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "this endpoint speaks the Pusher protocol over WebSocket", http.StatusUpgradeRequired)
		return
	}
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		early, _ = rw.Reader.Peek(n)
	}
	t.upgrade(nc, request{path: r.URL.Path, query: r.URL.Query(), header: r.Header, origin: r.Header.Get("Origin")}, early)
}

// RejectPath answers a WebSocket upgrade on an unknown path: the upgrade
// completes, then 4005 (protocol.md §1.2).
func (t *Transport) RejectPath(w http.ResponseWriter, r *http.Request) {
	t.ServeHTTP(w, r)
}

var pusherSubprotocol = []byte("pusher-channels-protocol-")

// outBuf collects what the handshake writes so it can leave in one write.
type outBuf struct{ b []byte }

func (o *outBuf) Write(p []byte) (int, error) {
	o.b = append(o.b, p...)
	return len(p), nil
}
