package server_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

func TestHandshakeHeaderFlood(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		_, _ = nc.Write([]byte("GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nX-Junk: "))
		junk := []byte(strings.Repeat("a", 4096))
		for i := 0; i < 64; i++ { // 256 KiB of one header
			if _, err := nc.Write(junk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("want an HTTP error answer, got %v", err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The server still serves others.
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("still-fine", "", "", "")
}

func TestPlainGETOnWebSocketPath(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	resp, err := http.Get("http://" + s.Addr + "/app/app-key?protocol=7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Limits.MaxSubscriptions = 2 })
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("a", "", "", "")
	c.Subscribe("b", "", "", "")
	c.Send("pusher:subscribe", "", map[string]any{"channel": "c"})
	e := c.Expect("pusher:subscription_error")
	if e.Channel != "c" || !strings.Contains(e.DataString(), "LimitReached") {
		t.Fatalf("%+v", e)
	}
	c.Send("pusher:unsubscribe", "", map[string]any{"channel": "a"})
	c.Subscribe("c", "", "", "")
}
