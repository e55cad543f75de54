package server_test

import (
	"bufio"
	"fmt"
	"io"
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
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
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

// TestUpgradeAfterRESTOnOneConnection upgrades a keep-alive connection that
// first carried an ordinary HTTP request (the net/http path, enrolled late).
func TestUpgradeAfterRESTOnOneConnection(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	_, _ = nc.Write([]byte("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ready: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, _ = nc.Write([]byte("GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	frame := make([]byte, 2)
	if _, err := io.ReadFull(br, frame); err != nil || frame[0] != 0x81 {
		t.Fatalf("first frame header %x %v", frame, err)
	}
	payload := make([]byte, int(frame[1]&0x7f))
	if _, err := io.ReadFull(br, payload); err != nil || !strings.Contains(string(payload), "pusher:connection_established") {
		t.Fatalf("first frame %q %v", payload, err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("m", "", "", "")
	s.REST().Trigger(t, []string{"m"}, "e", "1")
	c.Expect("e")
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		resp, err := http.Get("http://" + s.Addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`pixiu_connections{app_id="app-id"} 1`, `pixiu_messages_today{app_id="app-id"} 3`, // publish + its delivery + the subscription_count delivery
			`pixiu_engine_ready 1`, `# TYPE pixiu_webhook_requests_total counter`,
			`pixiu_webhook_events_dropped_total{reason="outbox_full"} 0`, `pixiu_webhook_outbox_events 0`} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("missing %q in:\n%s", want, b)
			}
		}
		return nil
	})
}
