package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// dialOrigin opens a connection with an Origin header ("" for none) and
// returns 0 when it is established, else the close code after checking the
// pusher:error that precedes it.
func dialOrigin(t *testing.T, addr, key, origin string) int {
	t.Helper()
	var h http.Header
	if origin != "" {
		h = http.Header{"Origin": {origin}}
	}
	c := pixiutest.DialHeader(t, "ws://"+addr+"/app/"+key+"?protocol=7", h)
	e := c.Next()
	if e.Event == "pusher:connection_established" {
		return 0
	}
	var d struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if e.Event != "pusher:error" || json.Unmarshal(e.Data, &d) != nil {
		t.Fatalf("origin %q: first event %s %s", origin, e.Event, e.Data)
	}
	code := c.WaitClosed()
	if code != d.Code {
		t.Fatalf("origin %q: pusher:error code %d but close code %d", origin, d.Code, code)
	}
	return code
}

func TestAllowedOrigins(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Apps = append(c.Apps, pixiutest.App("web", "web-key", "s", func(s *apps.Settings) {
			s.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
		}))
	})
	cases := []struct {
		key, origin string
		want        int
	}{
		{"web-key", "https://evil.example", 4009},
		{"web-key", "http://app.example.com", 4009},          // another scheme
		{"web-key", "https://app.example.com:8443", 4009},    // another port
		{"web-key", "https://example.org", 4009},             // the wildcard needs a subdomain
		{"web-key", "https://app.example.com.evil.io", 4009}, // not a suffix match
		{"web-key", "https://app.example.com", 0},
		{"web-key", "HTTPS://App.Example.com", 0},
		{"web-key", "https://eu.shop.example.org", 0},
		{"web-key", "", 0},                     // no Origin: not a browser
		{"app-key", "https://evil.example", 0}, // no allowed_origins: any
	}
	for _, tc := range cases {
		if got := dialOrigin(t, s.Addr, tc.key, tc.origin); got != tc.want {
			t.Errorf("%s with Origin %q: %d, want %d", tc.key, tc.origin, got, tc.want)
		}
	}
}

func TestAllowedOriginsFromTheCLI(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	s := pixiutest.Start(t, noApps(path))
	if code, out := pixiuApps(t, path, "update", "app-id", "--allowed-origins", "https://ok.example, https://*.ok.example", "--json"); code != 0 {
		t.Fatalf("update --allowed-origins: %d %s", code, out)
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if a, err := s.Apps().ByID("app-id"); err != nil || len(a.AllowedOrigins) != 2 {
			return errorf("server app %+v, %v; want 2 allowed origins", a, err)
		}
		return nil
	})
	if got := dialOrigin(t, s.Addr, "app-key", "https://evil.example"); got != 4009 {
		t.Fatalf("evil origin: %d, want 4009", got)
	}
	if got := dialOrigin(t, s.Addr, "app-key", "https://www.ok.example"); got != 0 {
		t.Fatalf("allowed origin: %d, want 0", got)
	}
	if code, _ := pixiuApps(t, path, "update", "app-id", "--allowed-origins", "ftp//x"); code != 2 {
		t.Fatalf("a malformed origin is accepted: exit %d, want 2", code)
	}
}

// TestAllowedOriginsOnALateUpgrade: the upgrade that net/http serves (a
// keep-alive connection whose first request was not the upgrade) checks
// the Origin too.
func TestAllowedOriginsOnALateUpgrade(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Apps = []apps.App{pixiutest.App("web", "web-key", "s", func(s *apps.Settings) {
			s.AllowedOrigins = []string{"https://app.example.com"}
		})}
	})
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	fmt.Fprint(nc, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Fprint(nc, "GET /app/web-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://evil.example\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("late upgrade: %v %v", resp, err)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{br, nc}
	msg, err := wsutil.ReadServerText(rw)
	if err != nil || !strings.Contains(string(msg), `"code":4009`) {
		t.Fatalf("first frame %s, %v; want pusher:error 4009", msg, err)
	}
	_, err = wsutil.ReadServerText(rw)
	var ce wsutil.ClosedError
	if !errors.As(err, &ce) || ce.Code != 4009 {
		t.Fatalf("close: %v, want 4009", err)
	}
}
