package wsconn

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/httpwire"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// DirectFunc answers one REST request (see restapi.API.Direct); requestID
// is the request's X-Request-Id header, and the answer's X-Request-Id is sent.
type DirectFunc func(ctx context.Context, method, requestURI, requestID string, body []byte) (int, http.Header, []byte)

// restConn is the context of a keep-alive connection whose requests the
// loop answers itself: HTTP/1.1 GET and POST requests to /apps/… framed by
// Content-Length (package httpwire). A request that is malformed or over a
// limit is refused with an HTTP error and the connection lingers, then
// closes; anything else (another path, chunked bodies, Expect, HTTP/1.0)
// hands the connection, unread bytes included, to net/http, which then
// serves it to the end. Loop only.
type restConn struct {
	*waitDeadline
	// inRequest is set while a request is partly read: its deadline, set at
	// its first byte, is not moved by the bytes that follow.
	inRequest bool
	peer      *Peer // set for a connection enrolled with EnrollPlain (tls.go)
	held      int64 // its bytes in Transport.heldIn (hold)
}

// holdFree is how much of a request still arriving each connection may
// hold without counting in Transport.heldIn: an upgrade or REST head is
// rarely larger.
const holdFree = httpwire.DefaultMaxLine

// hold counts the n bytes buffered for a connection's incomplete request
// (beyond holdFree) in the transport's total of bytes held for requests
// still arriving, held being that connection's share, and reports false if
// that would pass httpwire.DefaultMaxHeld. Loop only.
func (t *Transport) hold(held *int64, n int) bool {
	want := max(int64(n)-holdFree, 0)
	d := want - *held
	if d <= 0 {
		return true
	}
	if t.heldIn.Add(d) > httpwire.DefaultMaxHeld {
		t.heldIn.Add(-d)
		return false
	}
	*held = want
	return true
}

// unhold takes a connection's share out of the transport's total.
func (t *Transport) unhold(held *int64) {
	if *held != 0 {
		t.heldIn.Add(-*held)
		*held = 0
	}
}

// busyReason refuses a request that would pass httpwire.DefaultMaxHeld.
const busyReason = "Server busy: too many large requests arriving at once, retry later"

var restPrefixes = [...][]byte{[]byte("POST /apps/"), []byte("GET /apps/")}

// serveREST answers every complete request in the inbound buffer. Loop only.
func (t *Transport) serveREST(gc gnet.Conn) gnet.Action {
	rc := gc.Context().(*restConn)
	for {
		buf, _ := gc.Peek(-1)
		if len(buf) == 0 {
			rc.inRequest = false
			rc.set(httpwire.IdleTimeout)
			return gnet.None
		}
		if !maybeREST(buf) {
			t.unhold(&rc.held)
			return t.eject(gc, buf)
		}
		req, verdict := httpwire.Parse(buf, httpwire.Limits{})
		if verdict != httpwire.Incomplete {
			t.unhold(&rc.held)
		}
		switch verdict {
		case httpwire.Incomplete:
			if !t.hold(&rc.held, len(buf)) {
				t.unhold(&rc.held)
				return t.refuseREST(gc, rc.waitDeadline, http.StatusServiceUnavailable, busyReason)
			}
			if !rc.inRequest {
				rc.inRequest = true
				rc.set(t.opts.RESTRequestTimeout)
			}
			return gnet.None
		case httpwire.Handoff:
			return t.eject(gc, buf)
		case httpwire.Refuse:
			return t.refuseREST(gc, rc.waitDeadline, req.Status, req.Reason)
		}
		rc.inRequest = false
		// Direct is set only with an engine that never waits: no deadline needed.
		status, header, body := t.opts.Direct(context.Background(), methodString(req.Method), string(req.Target), string(req.RequestID), req.Body)
		out := appendResponse(getBuf(), status, header, body, req.Close)
		t.countOut(gc, kindREST, len(out))
		_, _ = gc.Write(out)
		putBuf(out)
		_, _ = gc.Discard(req.Size)
		if req.Close {
			return gnet.Close
		}
	}
}

// refuseREST answers status with a JSON error body and Connection: close,
// shuts the write side and lets the connection linger (httpwire.Linger),
// discarding what the client still sends, so that a client still sending a
// body it was refused reads the answer rather than a reset. Loop only.
func (t *Transport) refuseREST(gc gnet.Conn, d *waitDeadline, status int, reason string) gnet.Action {
	body := protocol.AppendString(append(getBuf(), `{"error":`...), reason)
	body = append(body, '}')
	out := appendResponse(getBuf(), status, nil, body, true)
	putBuf(body)
	t.countOut(gc, kindREST, len(out))
	_, _ = gc.Write(out)
	putBuf(out)
	_, _ = gc.Discard(-1)
	if gc.OutboundBuffered() == 0 { // else gnet still holds part of the answer: close after the linger
		if err := unix.Shutdown(gc.Fd(), syscall.SHUT_WR); err != nil {
			return gnet.Close
		}
	}
	d.set(httpwire.Linger)
	gc.SetContext(&drainingConn{waitDeadline: d, rest: true})
	return gnet.None
}

// maybeREST reports whether b starts, or can still start, like a request
// the loop answers.
func maybeREST(b []byte) bool {
	for _, p := range restPrefixes {
		n := min(len(b), len(p))
		if bytes.Equal(b[:n], p[:n]) {
			return true
		}
	}
	return false
}

// methodString returns m as a string without allocating for GET and POST.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	}
	return string(m)
}

// appendResponse appends an HTTP/1.1 response with a Content-Length.
func appendResponse(dst []byte, status int, header http.Header, body []byte, closing bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	contentType := header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/json"
	}
	dst = append(dst, contentType...)
	if id := header.Get("X-Request-Id"); id != "" { // set by Direct, checked there (no CR or LF)
		dst = append(dst, "\r\nX-Request-Id: "...)
		dst = append(dst, id...)
	}
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nDate: "...)
	dst = time.Now().UTC().AppendFormat(dst, http.TimeFormat)
	if closing {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
