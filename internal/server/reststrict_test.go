package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// The REST API has two paths: the event loops answer keep-alive requests to
// /apps/… themselves (memory engine), net/http answers the rest. A
// connection whose first request is not a REST call is net/http's to the
// end, so the same bytes sent after a GET /ready take the net/http path.
var restPaths = []struct {
	name string
	dial func(t *testing.T, addr string) (net.Conn, *bufio.Reader)
}{
	{"loop", func(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
		nc := dialTCP(t, addr)
		return nc, bufio.NewReader(nc)
	}},
	{"net/http", func(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
		nc := dialTCP(t, addr)
		br := bufio.NewReader(nc)
		if _, err := nc.Write([]byte("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if st, body := readAnswer(t, br); st != 200 {
			t.Fatalf("ready: %d %s", st, body)
		}
		return nc, br
	}},
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return nc
}

// readAnswer reads one response and returns its status and body.
func readAnswer(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read answer body: %v", err)
	}
	return resp.StatusCode, string(b)
}

// jsonError fails unless body is {"error": "<something containing want>"}.
func jsonError(t *testing.T, body, want string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, want) {
		t.Fatalf("body %q: want a JSON error containing %q (%v)", body, want, err)
	}
}

// signedHead returns a signed POST request head for path and body, without
// the framing headers and the blank line.
func signedHead(path, body string) string {
	q := signature.SignRequest("app-key", "app-secret", "POST", path, nil, []byte(body), time.Now())
	return "POST " + path + "?" + q.Encode() + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
}

// expectOnly fails unless the next event the subscriber gets (internal
// ones aside) is named want.
func expectOnly(t *testing.T, c *pixiutest.Client, want string) pixiutest.Event {
	t.Helper()
	for {
		e := c.Next()
		if strings.HasPrefix(e.Event, "pusher_internal:") {
			continue
		}
		if e.Event != want {
			t.Fatalf("got %s %q, want %s", e.Event, e.Data, want)
		}
		return e
	}
}

// TestRESTRefusesInvalidUTF8: encoding/json would deliver U+FFFD in place
// of invalid UTF-8 (or of a lone surrogate escape); the API answers 400 and
// delivers nothing, on both paths, for every field of publish and batch.
func TestRESTRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	sub := pixiutest.Dial(t, s.Addr, "app-key")
	sub.Subscribe("utf8", "", "", "")
	const events, batch = "/apps/app-id/events", "/apps/app-id/batch_events"
	bodies := []struct{ name, path, body string }{
		{"data", events, `{"name":"bad","channels":["utf8"],"data":"caf` + "\xe9" + `"}`},
		{"name", events, `{"name":"bad` + "\xff" + `","channels":["utf8"],"data":"x"}`},
		{"channel", events, `{"name":"bad","channels":["utf8","x` + "\xc3" + `"],"data":"x"}`},
		{"socket_id", events, `{"name":"bad","channels":["utf8"],"data":"x","socket_id":"1.` + "\x80" + `"}`},
		{"overlong", events, `{"name":"bad","channels":["utf8"],"data":"` + "\xc0\xaf" + `"}`},
		{"lone surrogate", events, `{"name":"bad","channels":["utf8"],"data":"\ud800"}`},
		{"lone low surrogate", events, `{"name":"bad","channels":["utf8"],"data":"a\udc00b"}`},
		{"batch", batch, `{"batch":[{"name":"bad","channel":"utf8","data":"ok"},{"name":"bad","channel":"utf8","data":"` + "\xed\xa0\x80" + `"}]}`},
	}
	for _, p := range restPaths {
		for _, b := range bodies {
			nc, br := p.dial(t, s.Addr)
			_, _ = fmt.Fprintf(nc, "%sContent-Length: %d\r\n\r\n%s", signedHead(b.path, b.body), len(b.body), b.body)
			st, body := readAnswer(t, br)
			if st != http.StatusBadRequest {
				t.Fatalf("%s, %s: status %d %s, want 400", p.name, b.name, st, body)
			}
			jsonError(t, body, "Invalid JSON body")
		}
	}
	// A valid surrogate pair and plain UTF-8 are fine, and are the first
	// events the subscriber gets: nothing of the above was delivered.
	good := `{"name":"good","channels":["utf8"],"data":"caf\u00e9 \ud83d\ude00 ` + "été" + `"}`
	for _, p := range restPaths {
		nc, br := p.dial(t, s.Addr)
		_, _ = fmt.Fprintf(nc, "%sContent-Length: %d\r\n\r\n%s", signedHead(events, good), len(good), good)
		if st, body := readAnswer(t, br); st != 200 {
			t.Fatalf("%s: good publish: %d %s", p.name, st, body)
		}
		if e := expectOnly(t, sub, "good"); e.DataString() != "café 😀 été" {
			t.Fatalf("%s: data %q", p.name, e.DataString())
		}
	}
}

// TestRESTBodyTooLarge: a 10 MB publish is answered 413 with a JSON body,
// read by a client that sends its whole body before reading (as curl
// does), on both paths, with a Content-Length and chunked.
func TestRESTBodyTooLarge(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	big := `{"name":"e","channels":["big"],"data":"` + strings.Repeat("a", 10<<20) + `"}`
	chunked := func(b string) string {
		var sb strings.Builder
		for len(b) > 0 {
			n := min(len(b), 64<<10)
			fmt.Fprintf(&sb, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		return sb.String() + "0\r\n\r\n"
	}
	head := signedHead("/apps/app-id/events", big)
	framings := map[string]string{
		"content-length": head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(big)) + big,
		"chunked":        head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(big),
	}
	for _, p := range restPaths {
		for name, req := range framings {
			nc, br := p.dial(t, s.Addr)
			if _, err := io.WriteString(nc, req); err != nil {
				t.Fatalf("%s, %s: the server stopped reading before the answer: %v", p.name, name, err)
			}
			st, body := readAnswer(t, br)
			if st != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s, %s: status %d %s, want 413", p.name, name, st, body)
			}
			jsonError(t, body, "too large")
		}
	}
}

// TestRESTRequestDeadline: a client sending one byte at a time keeps its
// connection no longer than the request timeout, on both paths.
func TestRESTRequestDeadline(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Limits.HTTPRequestTimeout = config.Duration(time.Second) })
	body := `{"name":"e","channels":["slow"],"data":"1"}`
	req := signedHead("/apps/app-id/events", body) + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	for _, p := range restPaths {
		t.Run(strings.ReplaceAll(p.name, "/", "-"), func(t *testing.T) {
			nc, br := p.dial(t, s.Addr)
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := 0; i < len(req)-1; i++ { // never the last byte
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := nc.Write([]byte{req[i]}); err != nil {
						return
					}
				}
			}()
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := br.ReadByte()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("still open after %s of trickling", time.Since(start).Round(time.Second))
			}
		})
	}
}

// TestRESTContentLengthRules: duplicate, signed or malformed
// Content-Length, or one next to Transfer-Encoding, is a 400 with nothing
// published, on both paths (net/http keeps its own text answer and takes
// Transfer-Encoding over Content-Length, as RFC 9112 allows).
func TestRESTContentLengthRules(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	sub := pixiutest.Dial(t, s.Addr, "app-key")
	sub.Subscribe("cl", "", "", "")
	body := `{"name":"bad","channels":["cl"],"data":"1"}`
	head := signedHead("/apps/app-id/events", body)
	n := len(body)
	cases := []struct {
		name, framing string
		loopOnly      bool
	}{
		{"differing", fmt.Sprintf("Content-Length: %d\r\nContent-Length: %d\r\n", n, n+5), false},
		{"plus", fmt.Sprintf("Content-Length: +%d\r\n", n), false},
		{"minus", "Content-Length: -1\r\n", false},
		{"list", fmt.Sprintf("Content-Length: %d, %d\r\n", n, n), false},
		{"empty", "Content-Length: \r\n", false},
		{"duplicate", fmt.Sprintf("Content-Length: %d\r\nContent-Length: %d\r\n", n, n), true},
		{"with chunked", fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", n), true},
	}
	for _, p := range restPaths {
		for _, tc := range cases {
			if tc.loopOnly && p.name != "loop" {
				continue
			}
			nc, br := p.dial(t, s.Addr)
			_, _ = io.WriteString(nc, head+tc.framing+"\r\n"+body)
			st, answer := readAnswer(t, br)
			if st != http.StatusBadRequest {
				t.Fatalf("%s, %s: status %d %s, want 400", p.name, tc.name, st, answer)
			}
			if p.name == "loop" {
				jsonError(t, answer, "")
			}
			if _, err := br.ReadByte(); err == nil {
				t.Fatalf("%s, %s: connection left open after the 400", p.name, tc.name)
			}
		}
	}
	s.REST().Trigger(t, []string{"cl"}, "good", "1")
	expectOnly(t, sub, "good")
}

// TestHTTPWriteTimeout: net/http gives up on a client that does not read
// its answers after the write timeout, but neither a WebSocket upgraded
// through net/http nor the console's event stream is cut by it.
func TestHTTPWriteTimeout(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Limits.HTTPWriteTimeout = config.Duration(time.Second)
		c.Console.Password = "admin-pw"
	})

	t.Run("stuck reader is closed", func(t *testing.T) {
		nc := dialTCP(t, s.Addr)
		_ = nc.(*net.TCPConn).SetReadBuffer(4 << 10)
		// Pipelined requests for 27 KB answers that are never read; more of
		// them than the server reads ahead, so that its close is a reset the
		// client sees (a FIN would wait behind the unread answers).
		go func() {
			req := []byte(strings.Repeat("GET /console/assets/console.js HTTP/1.1\r\nHost: x\r\n\r\n", 100))
			for i := 0; i < 400; i++ {
				if _, err := nc.Write(req); err != nil {
					return
				}
			}
		}()
		pixiutest.WaitFor(t, 15*time.Second, func() error {
			if st := tcpState(t, nc); st == unix.BPF_TCP_ESTABLISHED {
				return fmt.Errorf("connection still established (%d)", st)
			}
			return nil
		})
	})

	t.Run("websocket after REST lives on", func(t *testing.T) {
		nc, br := restPaths[1].dial(t, s.Addr) // net/http serves this connection
		_, _ = io.WriteString(nc, "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		readFrame(t, br) // connection_established
		sub := `{"event":"pusher:subscribe","data":{"channel":"late"}}`
		_, _ = nc.Write(maskedText(sub))
		if f := readFrame(t, br); !strings.Contains(f, "subscription_succeeded") {
			t.Fatalf("subscribe: %s", f)
		}
		time.Sleep(2 * time.Second) // past the write timeout
		s.REST().Trigger(t, []string{"late"}, "after", "1")
		for {
			if f := readFrame(t, br); strings.Contains(f, `"after"`) {
				return
			}
		}
	})

	t.Run("console stream lives on", func(t *testing.T) {
		cc := signIn(t, s.Addr, "admin-pw")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lines := cc.stream(ctx, "app-id")
		time.Sleep(2 * time.Second) // past the write timeout
		s.REST().Trigger(t, []string{"sse"}, "after", "1")
		waitLine(t, lines, `"event":"after"`)
	})
}

// tcpState returns the kernel's TCP state of nc (unix.BPF_TCP_*).
func tcpState(t *testing.T, nc net.Conn) uint8 {
	t.Helper()
	raw, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, ierr)
	}
	return info.State
}

// readFrame reads one unmasked server text frame (payload < 64 KiB).
func readFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("frame payload: %v", err)
	}
	return string(p)
}

// maskedText returns a client text frame (payload < 126 bytes) with a zero mask.
func maskedText(s string) []byte {
	return append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...)
}

// TestRESTHeadLimitsOnBothPaths: the request-line (414) and header-count
// (431) limits hold on the net/http path too (README), with a JSON body;
// net/http alone bounds only the head's bytes.
func TestRESTHeadLimitsOnBothPaths(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	fields := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-F%d: v\r\n", i)
		}
		return b.String()
	}
	cases := []struct {
		name, req string
		status    int
		want      string
	}{
		{"9 KiB request line", "GET /apps/app-id/channels?x=" + strings.Repeat("q", 9<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusRequestURITooLong, "request line too long"},
		{"101 fields", "GET /apps/app-id/channels HTTP/1.1\r\nHost: x\r\n" + fields(100) + "\r\n", http.StatusRequestHeaderFieldsTooLarge, "too many header fields"},
		{"100 fields", "GET /apps/app-id/channels HTTP/1.1\r\nHost: x\r\n" + fields(99) + "\r\n", http.StatusUnauthorized, "auth_key"},
	}
	for _, p := range restPaths {
		for _, tc := range cases {
			nc, br := p.dial(t, s.Addr)
			_, _ = io.WriteString(nc, tc.req)
			st, answer := readAnswer(t, br)
			if st != tc.status {
				t.Fatalf("%s, %s: status %d %s, want %d", p.name, tc.name, st, answer, tc.status)
			}
			jsonError(t, answer, tc.want)
		}
	}
}

// TestRESTBodiesHeldAreBounded: clients that each send most of a 1 MiB body
// and then stall make the event loops hold it; past httpwire.DefaultMaxHeld
// for all of them together the next such request is refused with a JSON 503
// (the budget is per server, not per connection), and so is an upgrade
// whose head is long; small requests and upgrades are still answered, and
// the budget comes back when the stalled clients go.
func TestRESTBodiesHeldAreBounded(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	partial := strings.Repeat("x", 1000<<10)
	head := "POST /apps/app-id/events?auth_key=app-key HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"
	var stalled []net.Conn
	refused := 0
	for i := 0; i < 48 && refused == 0; i++ {
		nc := dialTCP(t, s.Addr)
		stalled = append(stalled, nc)
		if _, err := io.WriteString(nc, head+partial); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			continue // held: no answer until the body is complete
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("stalled request %d: %d %s", i, resp.StatusCode, b)
		}
		jsonError(t, string(b), "Server busy")
		refused = i + 1
	}
	if refused == 0 || refused < 30 {
		t.Fatalf("refused at request %d of 48, want a 503 past 32 MiB held (about the 33rd)", refused)
	}
	s.REST().Trigger(t, []string{"c"}, "small", "1") // small requests pass
	if st := upgradeStatus(t, s.Addr); !strings.Contains(st, "101") {
		t.Fatalf("small upgrade while the budget is used up: %q", st)
	}
	// An upgrade whose head runs past 8 KiB counts in the same budget.
	nc := dialTCP(t, s.Addr)
	_, _ = io.WriteString(nc, "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nX-Long: "+strings.Repeat("l", 60<<10))
	if st, body := readAnswer(t, bufio.NewReader(nc)); st != http.StatusServiceUnavailable || !strings.Contains(body, "Server busy") {
		t.Fatalf("long upgrade head while the budget is used up: %d %s", st, body)
	}
	for _, nc := range stalled {
		_ = nc.Close()
	}
	var st int
	var answer string
	for range 50 { // the loops see the closes
		nc := dialTCP(t, s.Addr)
		_, _ = io.WriteString(nc, head+partial)
		_ = nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			return // held again: the budget was released
		}
		b, _ := io.ReadAll(resp.Body)
		st, answer = resp.StatusCode, string(b)
		_ = nc.Close()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after the stalled clients left: %d %s", st, answer)
}
