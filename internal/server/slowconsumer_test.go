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
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// slowClient is a raw WebSocket client with a tiny receive buffer that
// subscribes and then never reads again.
type slowClient struct {
	conn net.Conn
	br   *bufio.Reader // bytes the handshake read ahead, or nil
}

func dialSlow(t *testing.T, addr string, channels ...string) *slowClient {
	t.Helper()
	d := ws.Dialer{NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				// Before connect(2), so the advertised window is small too.
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
			})
			return errors.Join(err, serr)
		}}
		return nd.DialContext(ctx, network, a)
	}}
	conn, br, _, err := d.Dial(context.Background(), "ws://"+addr+"/app/app-key?protocol=7&client=slow-test&version=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &slowClient{conn: conn, br: br}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.expect(t, "pusher:connection_established")
	for _, ch := range channels {
		msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": ch}})
		if err := wsutil.WriteClientText(conn, msg); err != nil {
			t.Fatal(err)
		}
		c.expect(t, "pusher_internal:subscription_succeeded")
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c
}

func (c *slowClient) reader() io.Reader {
	if c.br != nil {
		return io.MultiReader(c.br, c.conn)
	}
	return c.conn
}

// expect reads messages until one named event arrives.
func (c *slowClient) expect(t *testing.T, event string) {
	t.Helper()
	rw := struct {
		io.Reader
		io.Writer
	}{c.reader(), c.conn}
	for {
		msg, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatalf("waiting for %s: %v", event, err)
		}
		var e struct {
			Event string `json:"event"`
		}
		_ = json.Unmarshal(msg, &e)
		if e.Event == event {
			return
		}
	}
}

// drainToEnd reads everything the server sent and reports whether the
// connection ended (EOF, reset or a close frame) within d.
func (c *slowClient) drainToEnd(d time.Duration) (closeCode int, ended bool) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	r := c.reader()
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			var ne net.Error
			return 0, !(errors.As(err, &ne) && ne.Timeout())
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			var ne net.Error
			return 0, !(errors.As(err, &ne) && ne.Timeout())
		}
		if h.OpCode == ws.OpClose && len(p) >= 2 {
			return int(p[0])<<8 | int(p[1]), true
		}
	}
}

// openConns returns the server's open WebSocket connections (GET /ready).
func openConns(t *testing.T, s *pixiutest.Server) int {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Connections int `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Connections
}

// outboundBytes reads pixiu_outbound_bytes from /metrics.
func outboundBytes(t *testing.T, s *pixiutest.Server) int64 {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "pixiu_outbound_bytes "); ok {
			n, err := strconv.ParseFloat(v, 64) // 1.2e+06 past six digits
			if err != nil {
				t.Fatal(err)
			}
			return int64(n)
		}
	}
	t.Fatalf("no pixiu_outbound_bytes in /metrics:\n%s", b)
	return 0
}

// expectSeq reads the reader's next "e" event and checks its sequence number.
func expectSeq(t *testing.T, c *pixiutest.Client, want int) {
	t.Helper()
	e := c.Expect("e")
	seq, _, _ := strings.Cut(e.DataString(), " ")
	if seq != strconv.Itoa(want) {
		t.Fatalf("reader got event %q, want seq %d", seq, want)
	}
}

// Two never-reading clients hold outbound bytes: one 60× more than the
// other. Past the server-wide budget the larger one is closed, the smaller
// one stays, and a reading subscriber gets every event in order.
func TestOutboundBudgetClosesTheLargestHolder(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Limits.MaxPendingBytes = 64 << 20 // far above the budget: only the budget can act
		c.Limits.MaxOutboundBytes = 1 << 20
		c.Limits.MaxEventBytes = 100_000
	})
	reader := pixiutest.Dial(t, s.Addr, "app-key")
	reader.Subscribe("x", "", "", "")
	big := dialSlow(t, s.Addr, "big", "x")
	small := dialSlow(t, s.Addr, "x")
	rest := s.REST()
	// The kernel takes a few MB per socket before the server holds any.
	fill := strings.Repeat("b", 64_000)
	pad := strings.Repeat("s", 1000)
	closed := false
	i := 0
	for ; i < 600 && !closed; i++ {
		rest.Trigger(t, []string{"big"}, "fill", fill)
		rest.Trigger(t, []string{"x"}, "e", strconv.Itoa(i)+" "+pad)
		expectSeq(t, reader, i)
		closed = openConns(t, s) < 3
	}
	if !closed {
		t.Fatalf("no slow consumer was closed after %d rounds", i)
	}
	// The largest holder went; the smaller one and the reader stay.
	if code, ended := big.drainToEnd(10 * time.Second); !ended {
		t.Fatal("the largest holder is still open")
	} else if code != 0 && code != 4100 {
		t.Fatalf("the largest holder was closed with %d, want 4100", code)
	}
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if n := openConns(t, s); n != 2 {
			return fmt.Errorf("%d connections open, want the reader and the smaller slow consumer", n)
		}
		return nil
	})
	for j := i; j < i+20; j++ {
		rest.Trigger(t, []string{"x"}, "e", strconv.Itoa(j)+" "+pad)
		expectSeq(t, reader, j)
	}
	if n := openConns(t, s); n != 2 {
		t.Fatalf("%d connections open after more events, want 2", n)
	}
	_ = small
}

// A socket's bytes count once against max_pending_bytes, wherever they wait
// (Pixiu's pending buffer or gnet's): the server never holds more than the
// cap for one never-reading client, closes it with 4100, and then holds
// nothing.
func TestPendingCapCountsEveryByteOnce(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Limits.MaxPendingBytes = limit
		c.Limits.MaxEventBytes = 100_000
	})
	reader := pixiutest.Dial(t, s.Addr, "app-key")
	reader.Subscribe("x", "", "", "")
	slow := dialSlow(t, s.Addr, "x")
	data := strings.Repeat("p", 50_000) // the kernel takes a few MB first
	var most int64
	i := 0
	for ; i < 400 && openConns(t, s) == 2; i++ {
		s.REST().Trigger(t, []string{"x"}, "e", strconv.Itoa(i)+" "+data)
		expectSeq(t, reader, i)
		most = max(most, outboundBytes(t, s))
	}
	if openConns(t, s) == 2 {
		t.Fatalf("the slow consumer is still open after %d events", i)
	}
	// The gauge counts the memory of the pending chunks, a little more than
	// the frames in them; counted twice it would near 2× the cap.
	if most > limit*5/4 {
		t.Fatalf("the server held %d bytes for one socket, cap %d", most, limit)
	}
	if code, ended := slow.drainToEnd(10 * time.Second); !ended || (code != 0 && code != 4100) {
		t.Fatalf("slow consumer: ended %v, close code %d; want closed with 4100", ended, code)
	}
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if n := outboundBytes(t, s); n != 0 {
			return fmt.Errorf("still %d outbound bytes held", n)
		}
		return nil
	})
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// Never-reading clients closed by the server (4100, their close frame never
// read) and by themselves (with unread data) leave no descriptor behind.
// Not parallel: it counts the whole process's descriptors.
func TestSlowConsumersReleaseDescriptors(t *testing.T) {
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Limits.MaxPendingBytes = 256 << 10
		c.Limits.MaxEventBytes = 100_000
	})
	reader := pixiutest.Dial(t, s.Addr, "app-key")
	reader.Subscribe("x", "", "", "")
	// Open the keep-alive connections of the REST and /ready clients first.
	s.REST().Trigger(t, []string{"warm-up"}, "w", "{}")
	openConns(t, s)
	base := openFDs(t)
	var slow []*slowClient
	for range 5 {
		slow = append(slow, dialSlow(t, s.Addr, "x"))
	}
	// Fill them all past the cap (the kernel takes a few MB per socket
	// first): the server closes every one with 4100, though none reads its
	// close frame.
	data := strings.Repeat("d", 50_000)
	i := 0
	for ; i < 600 && openConns(t, s) > 1; i++ {
		s.REST().Trigger(t, []string{"x"}, "e", strconv.Itoa(i)+" "+data)
		expectSeq(t, reader, i)
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if n := openConns(t, s); n != 1 {
			return fmt.Errorf("%d connections open, want only the reader", n)
		}
		return nil
	})
	for _, c := range slow {
		_ = c.conn.Close()
	}
	// Five more that fill up and then go away themselves.
	slow = slow[:0]
	for range 5 {
		slow = append(slow, dialSlow(t, s.Addr, "y"))
	}
	for j := range 40 {
		s.REST().Trigger(t, []string{"y"}, "f", strconv.Itoa(j)+" "+data)
	}
	for _, c := range slow {
		_ = c.conn.Close()
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if n := openConns(t, s); n != 1 {
			return fmt.Errorf("%d connections open, want only the reader", n)
		}
		if n := openFDs(t); n > base {
			return fmt.Errorf("%d descriptors open, %d before the slow consumers", n, base)
		}
		return nil
	})
	s.REST().Trigger(t, []string{"x"}, "e", strconv.Itoa(i)+" after")
	expectSeq(t, reader, i)
}
