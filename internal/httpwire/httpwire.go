// Package httpwire frames HTTP/1.1 requests read from a byte buffer, for the
// event loops that answer REST calls without net/http. Every limit of that
// path is here (request line, header count and size, Content-Length rules,
// body size, timeouts), and the net/http server is configured from the same
// values. Parse is pure: no I/O, no state, no allocation.
package httpwire

import (
	"bytes"
	"time"
)

// Default limits and timeouts of plain HTTP requests (both paths).
const (
	DefaultMaxLine    = 8 << 10  // request line → 414
	DefaultMaxHead    = 64 << 10 // request line and header fields → 431
	DefaultMaxHeaders = 100      // header fields → 431
	DefaultMaxBody    = 1 << 20  // Content-Length → 413

	// DefaultMaxHeld bounds the bytes of requests still arriving (WebSocket
	// upgrades, REST heads and bodies) that the event loops hold for all
	// connections together, past the first DefaultMaxLine of each: a
	// request that would go over it is refused with 503, so that clients
	// trickling large heads or bodies cannot make the server hold their
	// worth of memory each (the buffers holding them grow to about twice
	// that).
	DefaultMaxHeld = 32 << 20

	// DefaultRequestTimeout bounds one whole request (head and body) from
	// its first byte; a client that trickles bytes is closed after it.
	DefaultRequestTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds a request from its head to the end of its
	// answer on net/http (it must exceed the request timeout).
	DefaultWriteTimeout = 30 * time.Second
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout = 120 * time.Second
	// Linger is how long a connection whose request was refused keeps
	// reading, and discarding, what the client still sends after the answer,
	// so that a client still sending its body reads the answer instead of a
	// connection reset.
	Linger = 2 * time.Second
)

// Limits bound one request. Zero fields mean the defaults.
type Limits struct {
	MaxLine    int
	MaxHead    int
	MaxHeaders int
	MaxBody    int
}

// withDefaults returns l with zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxHead <= 0 {
		l.MaxHead = DefaultMaxHead
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	return l
}

// Verdict is what Parse made of the bytes.
type Verdict uint8

const (
	// Incomplete: no verdict yet, wait for more bytes. Method and Target
	// are set once the request line is complete.
	Incomplete Verdict = iota
	// Complete: the request and its body are in the buffer.
	Complete
	// Handoff: a well-formed request this framing does not serve
	// (not HTTP/1.1, a Transfer-Encoding, Expect); a full server must.
	Handoff
	// Refuse: malformed or over a limit; answer Status with Reason and
	// close the connection.
	Refuse
)

// Request is one parsed request. Its slices point into the parsed buffer.
type Request struct {
	Method []byte
	Target []byte // request-target as sent, e.g. /apps/1/events?auth_key=…
	Body   []byte
	Size   int  // bytes of head and body (Complete)
	Close  bool // the client sent Connection: close
	// RequestID is the X-Request-Id header's value as sent (the last one),
	// nil if none; its user checks it.
	RequestID []byte

	Status int    // Refuse: 400, 413, 414 or 431
	Reason string // Refuse: why, for the client
}

func refuse(req Request, status int, reason string) (Request, Verdict) {
	req.Status, req.Reason = status, reason
	return req, Refuse
}

var crlfcrlf = []byte("\r\n\r\n")

// Parse frames the first request in b under lim. It is strict where
// framing is at stake: the request line is "METHOD SP target SP version"
// with CRLF line ends, header names are tokens, values have no control
// characters, there is no line folding, and Content-Length is one run of
// digits given once and never together with Transfer-Encoding (RFC 9112
// §6.3; net/http refuses the same).
func Parse(b []byte, lim Limits) (req Request, v Verdict) {
	lim = lim.withDefaults()
	lineEnd := bytes.IndexByte(b[:min(len(b), lim.MaxLine+1)], '\n')
	if lineEnd < 0 {
		if len(b) > lim.MaxLine {
			return refuse(req, 414, "request line too long: the limit is "+itoa(lim.MaxLine)+" bytes")
		}
		return req, Incomplete
	}
	if lineEnd == 0 || b[lineEnd-1] != '\r' {
		return refuse(req, 400, "malformed request line: lines must end with CRLF")
	}
	var handoff bool
	req.Method, req.Target, handoff = requestLine(b[:lineEnd-1])
	if req.Method == nil {
		return refuse(req, 400, "malformed request line")
	}
	lo := lineEnd - 1 // the head ends with the first CRLFCRLF from the request line's CR
	end := bytes.Index(b[lo:max(lo, min(len(b), lim.MaxHead))], crlfcrlf)
	if end < 0 {
		if len(b) >= lim.MaxHead {
			return refuse(req, 431, "request head too large: the limit is "+itoa(lim.MaxHead)+" bytes")
		}
		return req, Incomplete
	}
	headEnd := lo + end + 4
	length, chunked, expect, hosts, n := -1, false, false, 0, 0
	for pos := lineEnd + 1; pos < headEnd-2; {
		nl := pos + bytes.IndexByte(b[pos:headEnd], '\n')
		if b[nl-1] != '\r' || nl-1 == pos {
			return refuse(req, 400, "malformed header line: lines must end with CRLF")
		}
		line := b[pos : nl-1]
		pos = nl + 1
		if n++; n > lim.MaxHeaders {
			return refuse(req, 431, "too many header fields: the limit is "+itoa(lim.MaxHeaders))
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !token(line[:colon]) {
			return refuse(req, 400, "malformed header line")
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !fieldValue(value) {
			return refuse(req, 400, "invalid character in header "+string(name))
		}
		switch {
		case equalFold(name, "content-length"):
			if length >= 0 {
				return refuse(req, 400, "duplicate Content-Length header")
			}
			if length = digits(value); length < 0 {
				return refuse(req, 400, "malformed Content-Length header")
			}
		case equalFold(name, "transfer-encoding"):
			chunked = true
		case equalFold(name, "expect"):
			expect = true
		case equalFold(name, "host"):
			hosts++
		case equalFold(name, "connection"):
			req.Close = req.Close || hasToken(value, "close")
		case equalFold(name, "x-request-id"):
			req.RequestID = value
		}
	}
	switch {
	case hosts > 1:
		return refuse(req, 400, "duplicate Host header")
	case chunked && length >= 0:
		return refuse(req, 400, "Content-Length together with Transfer-Encoding")
	case length > lim.MaxBody:
		return refuse(req, 413, "Request body too large: the limit is "+itoa(lim.MaxBody)+" bytes")
	case handoff || chunked || expect:
		return req, Handoff
	}
	length = max(length, 0)
	if len(b) < headEnd+length {
		return req, Incomplete
	}
	req.Body = b[headEnd : headEnd+length]
	req.Size = headEnd + length
	return req, Complete
}

// requestLine splits "METHOD SP target SP version". method is nil when the
// line is malformed; handoff is set for a version other than HTTP/1.1.
func requestLine(line []byte) (method, target []byte, handoff bool) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !token(line[:sp1]) {
		return nil, nil, false
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return nil, nil, false
	}
	target, version := rest[:sp2], rest[sp2+1:]
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return nil, nil, false
		}
	}
	if string(version) == "HTTP/1.1" {
		return line[:sp1], target, false
	}
	// HTTP/1.0 and any later 1.x go to net/http (it answers 505 for others).
	if len(version) == 8 && string(version[:5]) == "HTTP/" && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]) {
		return line[:sp1], target, true
	}
	return nil, nil, false
}

// digits parses a Content-Length value: one or more ASCII digits, nothing
// else (no sign, no spaces, no list), at most 18 of them. -1 if malformed.
func digits(v []byte) int {
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tokenChars marks the tchar set of RFC 9110 §5.6.2.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func token(b []byte) bool {
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

// fieldValue reports whether v has no control characters but tab.
func fieldValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
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

// hasToken reports whether the comma-separated list v holds tok (lower case).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if equalFold(trimOWS(v[:i]), tok) {
			return true
		}
		v = v[min(i+1, len(v)):]
	}
	return false
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
