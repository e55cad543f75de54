package wsconn

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// DirectFunc answers one REST request (see restapi.API.Direct).
type DirectFunc func(ctx context.Context, method, requestURI string, body []byte) (int, http.Header, []byte)

// restConn is the context of a keep-alive connection whose requests the
// loop answers itself: plain HTTP/1.1 requests to /apps/… framed by
// Content-Length. Anything else (another path, chunked bodies, Expect,
// HTTP/1.0, oversized heads) hands the connection, unread bytes included,
// to net/http, which then serves it to the end.
type restConn struct{ *waitDeadline }

var appsPrefix = []byte("/apps/")

// maxRESTBody matches the REST API's own body limit.
const maxRESTBody = 1 << 20

// restIdle is how long a keep-alive REST connection may sit idle (as
// net/http's IdleTimeout).
const restIdle = 120 * time.Second

// serveREST answers every complete request in the inbound buffer. Loop only.
func (t *Transport) serveREST(gc gnet.Conn) gnet.Action {
	rc := gc.Context().(*restConn)
	for {
		buf, _ := gc.Peek(-1)
		if len(buf) == 0 {
			return gnet.None
		}
		req, ok, complete := parseRESTRequest(buf)
		if !ok {
			return t.eject(gc, buf)
		}
		if !complete {
			rc.set(30 * time.Second) // a request is on its way
			return gnet.None
		}
		// Direct is set only with an engine that never waits: no deadline needed.
		status, header, body := t.opts.Direct(context.Background(), req.method, req.uri, req.body)
		out := appendResponse(getBuf(), status, header, body, req.close)
		_, _ = gc.Write(out)
		putBuf(out)
		_, _ = gc.Discard(req.size)
		if req.close {
			return gnet.Close
		}
		rc.set(restIdle)
	}
}

type restRequest struct {
	method, uri string
	body        []byte
	size        int // bytes of head and body
	close       bool
}

// parseRESTRequest parses one request from b. ok is false when the request
// is not for this path (net/http must serve it); complete is false when more
// bytes are needed.
func parseRESTRequest(b []byte) (req restRequest, ok, complete bool) {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		if len(b) >= maxHandshakeBytes {
			return req, false, false
		}
		// Decide early on what is visible: the request line, or its start.
		if i := bytes.IndexByte(b, '\n'); i >= 0 && !restLine(b[:i]) {
			return req, false, false
		}
		if !maybeREST(b) {
			return req, false, false
		}
		return req, true, false
	}
	lineEnd := bytes.Index(b, []byte("\r\n"))
	line := b[:lineEnd]
	if !restLine(line) {
		return req, false, false
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	req.method, req.uri = string(line[:sp1]), string(line[sp1+1:sp2])
	length := 0
	var headers [][]byte
	if lineEnd+2 <= end {
		headers = bytes.Split(b[lineEnd+2:end], []byte("\r\n"))
	}
	for _, h := range headers {
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return req, false, false
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxRESTBody {
				return req, false, false
			}
			length = n
		case asciiEqualFold(name, "transfer-encoding"), asciiEqualFold(name, "expect"):
			return req, false, false
		case asciiEqualFold(name, "connection"):
			req.close = headerHasToken([]string{string(value)}, "close")
		}
	}
	head := end + 4
	if len(b) < head+length {
		return req, true, false
	}
	req.body = b[head : head+length]
	req.size = head + length
	return req, true, true
}

// maybeREST reports whether b can still become a REST request line.
func maybeREST(b []byte) bool {
	for _, p := range [][]byte{[]byte("GET /apps/"), []byte("POST /apps/")} {
		n := min(len(b), len(p))
		if bytes.Equal(b[:n], p[:n]) {
			return true
		}
	}
	return false
}

// restLine reports whether a request line is "GET|POST /apps/… HTTP/1.1".
func restLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		return false
	}
	method := string(line[:sp1])
	return (method == "GET" || method == "POST") && bytes.HasPrefix(line[sp1+1:], appsPrefix) &&
		string(line[sp2+1:]) == "HTTP/1.1"
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// appendResponse appends an HTTP/1.1 response with a Content-Length.
func appendResponse(dst []byte, status int, header http.Header, body []byte, closing bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	ct := header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	dst = append(dst, ct...)
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
