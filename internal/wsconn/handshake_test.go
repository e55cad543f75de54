package wsconn

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHandshakeLimits: the upgrade request is held to the same HTTP framing
// limits as a REST request (package httpwire), whether it arrives in one
// read or in many, and a repeated Sec-WebSocket-Key is refused (RFC 6455
// §11.3.1) instead of the last one being used.
func TestHandshakeLimits(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	const line = "GET /app/app-key?protocol=7 HTTP/1.1\r\n"
	const std = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	fields := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-F%d: v\r\n", i)
		}
		return b.String()
	}
	cases := []struct {
		name   string
		req    string
		status int
	}{
		{"well formed", line + std + "\r\n", http.StatusSwitchingProtocols},
		{"100 fields", line + std + fields(95) + "\r\n", http.StatusSwitchingProtocols},
		{"60 KiB head", line + std + "X-Big: " + strings.Repeat("a", 60<<10) + "\r\n\r\n", http.StatusSwitchingProtocols},
		{"101 fields", line + std + fields(96) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"5000 fields", line + std + fields(5000) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"100 KiB field", line + std + "X-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"9 KiB request line", "GET /app/app-key?protocol=7&x=" + strings.Repeat("q", 9<<10) + " HTTP/1.1\r\n" + std + "\r\n", http.StatusRequestURITooLong},
		{"two Sec-WebSocket-Key", line + std + "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n", http.StatusBadRequest},
		{"bare LF lines", strings.ReplaceAll(line+std+"\n", "\r\n", "\n"), http.StatusBadRequest},
		{"NUL in a field", line + std + "X-A: a\x00b\r\n\r\n", http.StatusBadRequest},
		{"two Host fields", line + std + "Host: y\r\n\r\n", http.StatusBadRequest},
	}
	for _, tc := range cases {
		for _, trickle := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/trickled=%v", tc.name, trickle), func(t *testing.T) {
				t.Parallel()
				if got := handshakeStatus(t, addr, tc.req, trickle); got != tc.status {
					t.Fatalf("status %d, want %d", got, tc.status)
				}
			})
		}
	}
	w := dialRaw(t, addr) // the server still upgrades and serves
	w.write(frame(opTextF, pingMsg))
	w.expectEvent("pusher:pong")
}

// handshakeStatus sends req (at once, or in 1000-byte pieces) and returns
// the status of the answer.
func handshakeStatus(t *testing.T, addr, req string, trickle bool) int {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		b := []byte(req)
		for len(b) > 0 {
			k := len(b)
			if trickle {
				k = min(k, 1000)
				time.Sleep(time.Millisecond)
			}
			if _, err := nc.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode
}

// TestValidUpgradeOneKey: the net/http path (a late upgrade) refuses a
// repeated Sec-WebSocket-Key too.
func TestValidUpgradeOneKey(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Version", "13")
	h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if why := validUpgrade(h); why != "" {
		t.Fatalf("one key refused: %s", why)
	}
	h.Add("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")
	if why := validUpgrade(h); why == "" {
		t.Fatal("two keys accepted")
	}
}
