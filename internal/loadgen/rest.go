package loadgen

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// HTTP client implementations for REST publishing.
const (
	// httpRaw is a minimal HTTP/1.1 keep-alive client, one connection per
	// publisher: one write and usually one read per request. It exists because
	// net/http's client costs about as much CPU per request as the server
	// being measured, and tool and server share the machine.
	httpRaw = "raw"
	// httpStd is net/http's client, for cross-checking the raw one.
	httpStd = "std"
)

// restClient publishes events through the signed REST API (protocol.md §6.2,
// §6.3) over keep-alive connections. Safe for concurrent use; each publisher
// goroutine gets its own poster.
type restClient struct {
	mode        string
	target      Target
	std         *http.Client // mode httpStd
	base        string       // "http://ip:port"
	path        string       // "/apps/{app_id}/events"
	key, secret string
	timeout     time.Duration
}

// poster sends signed event bodies; one per publisher goroutine.
type poster interface {
	publish(ctx context.Context, body []byte) error
	close()
}

func newRESTClient(t Target, mode, appID, key, secret string, conns int) *restClient {
	r := &restClient{
		mode:    cmp.Or(mode, httpRaw),
		target:  t,
		base:    "http://" + t.Addr(),
		path:    "/apps/" + appID + "/events",
		key:     key,
		secret:  secret,
		timeout: 30 * time.Second,
	}
	if r.mode == httpStd {
		r.std = &http.Client{Timeout: r.timeout, Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	}
	return r
}

func (r *restClient) close() {
	if r.std != nil {
		r.std.CloseIdleConnections()
	}
}

func (r *restClient) poster() poster {
	if r.mode == httpStd {
		return stdPoster{r}
	}
	return &rawPoster{r: r}
}

// signedQuery signs a POST of body to r.path now.
func (r *restClient) signedQuery(body []byte) string {
	return signature.SignRequest(r.key, r.secret, http.MethodPost, r.path, nil, body, time.Now()).Encode()
}

// eventBody returns the JSON body of POST /events for one channel; data is
// the event's data string.
func eventBody(dst []byte, name string, channels []string, data []byte) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, name)
	dst = append(dst, `,"channels":[`...)
	for i, ch := range channels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, ch)
	}
	dst = append(dst, `],"data":`...)
	dst = appendJSONString(dst, string(data))
	return append(dst, '}')
}

// benchData returns the data string of a measured event: its sequence number,
// the send time in unix nanos and padding up to size bytes.
func benchData(dst []byte, seq int64, sentAt int64, size int) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, sentAt, 10)
	dst = append(dst, `,"pad":"`...)
	for len(dst) < size-2 {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// statusError is a REST answer other than 200.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("publish: status %d: %s", e.code, e.body) }

type stdPoster struct{ r *restClient }

func (p stdPoster) close() {}

func (p stdPoster) publish(ctx context.Context, body []byte) error {
	r := p.r
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+r.path+"?"+r.signedQuery(body), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.std.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return &statusError{code: resp.StatusCode, body: string(msg)}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("publish: read response: %w", err)
	}
	return nil
}

// rawPoster is a single keep-alive HTTP/1.1 connection; owned by one
// goroutine. A failed request drops the connection; the next one redials.
type rawPoster struct {
	r    *restClient
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	resp []byte
}

func (p *rawPoster) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

func (p *rawPoster) publish(ctx context.Context, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.conn == nil {
		c, err := (&net.Dialer{Timeout: p.r.timeout}).DialContext(ctx, "tcp", p.r.target.Addr())
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		p.conn = c
		if p.br == nil {
			p.br = bufio.NewReaderSize(c, 4096)
		} else {
			p.br.Reset(c)
		}
	}
	err := p.roundTrip(body)
	if err != nil {
		var se *statusError
		if !errors.As(err, &se) {
			p.close()
		}
	}
	return err
}

func (p *rawPoster) roundTrip(body []byte) error {
	r := p.r
	q := r.signedQuery(body)
	b := append(p.req[:0], "POST "...)
	b = append(append(append(b, r.path...), '?'), q...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.target.Addr()...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	p.req = b
	_ = p.conn.SetDeadline(time.Now().Add(r.timeout))
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("publish: write: %w", err)
	}
	status, keep, err := p.readResponse()
	if err != nil {
		return fmt.Errorf("publish: read response: %w", err)
	}
	if !keep {
		p.close()
	}
	if status != http.StatusOK {
		return &statusError{code: status, body: string(p.resp[:min(len(p.resp), 200)])}
	}
	return nil
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse reads one response (status line, headers, body by
// Content-Length or chunked) into p.resp and reports whether the connection
// may be reused.
func (p *rawPoster) readResponse() (status int, keep bool, err error) {
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, errBadResponse
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, errBadResponse
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		line, err = p.br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, errBadResponse
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, false, errBadResponse
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = keep && !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = p.readChunked()
	case length >= 0:
		p.resp = growTo(p.resp, length)
		_, err = io.ReadFull(p.br, p.resp)
	default: // body until EOF
		keep = false
		p.resp, err = io.ReadAll(io.LimitReader(p.br, 1<<20))
	}
	return status, keep, err
}

func (p *rawPoster) readChunked() error {
	p.resp = p.resp[:0]
	for {
		line, err := p.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		hexLen, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(hexLen), 16, 32)
		if err != nil || n < 0 || n > 1<<20 {
			return errBadResponse
		}
		if n == 0 { // trailers until the empty line
			for {
				if line, err = p.br.ReadSlice('\n'); err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		start := len(p.resp)
		p.resp = growTo(p.resp, start+int(n)+2) // data + CRLF
		if _, err := io.ReadFull(p.br, p.resp[start:]); err != nil {
			return err
		}
		p.resp = p.resp[:start+int(n)]
	}
}

// growTo returns b resized to n bytes, keeping its contents.
func growTo(b []byte, n int) []byte {
	return slices.Grow(b[:0], n)[:n]
}
