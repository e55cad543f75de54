package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// A client subscribing to 100 channels at once, as pusher-js does at
// connect, is served in full by the default subscribe rate limit.
func TestSubscribeBurstAtConnect(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	for i := range 100 {
		c.Send("pusher:subscribe", "", map[string]any{"channel": "ch-" + strconv.Itoa(i)})
	}
	seen := map[string]bool{}
	for len(seen) < 100 {
		e := c.Next()
		switch e.Event {
		case "pusher_internal:subscription_succeeded":
			seen[e.Channel] = true
		case "pusher:error", "pusher:subscription_error":
			t.Fatalf("after %d subscriptions: %s %s %s", len(seen), e.Event, e.Channel, e.Data)
		}
	}
}

// Past the rate a subscribe is refused with pusher:error 4301 (and
// subscription_error 429); the connection stays open and subscribes again
// once the rate allows.
func TestSubscribeRateRefuses(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Limits.MaxSubscribesPS, c.Limits.SubscribeBurst = 2, 5 })
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	for i := range 8 { // at once: the burst of 5 is served, the rest refused
		c.Send("pusher:subscribe", "", map[string]any{"channel": "a-" + strconv.Itoa(i)})
	}
	var ok, refused, rateErrors int
	for ok+refused < 8 {
		e := c.Next()
		switch e.Event {
		case "pusher_internal:subscription_succeeded":
			ok++
		case "pusher:subscription_error":
			if !strings.Contains(e.DataString(), "429") {
				t.Fatalf("subscription_error %s %s", e.Channel, e.Data)
			}
			refused++
		case "pusher:error":
			var d struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil || d.Code != 4301 || !strings.Contains(d.Message, "rate limit") {
				t.Fatalf("pusher:error %s, want code 4301 (rate limit)", e.Data)
			}
			rateErrors++
		}
	}
	if ok < 5 || refused == 0 || rateErrors != refused {
		t.Fatalf("8 subscribes at once with a burst of 5: %d served, %d refused, %d pusher:error", ok, refused, rateErrors)
	}
	// 2/s: a token is back every 500 ms; a client retrying at that pace is
	// served again and never closed.
	for attempt := 0; ; attempt++ {
		time.Sleep(600 * time.Millisecond)
		c.Send("pusher:subscribe", "", map[string]any{"channel": "later"})
		e := c.Next()
		for e.Event != "pusher_internal:subscription_succeeded" && e.Event != "pusher:subscription_error" {
			e = c.Next()
		}
		if e.Event == "pusher_internal:subscription_succeeded" && e.Channel == "later" {
			return
		}
		if attempt == 10 {
			t.Fatalf("still refused after %d paced attempts: %s %s", attempt+1, e.Event, e.Data)
		}
	}
}

// A client that only subscribes and unsubscribes as fast as it can gets
// pusher:error 4301 and, as it keeps going, is closed with 4100.
func TestSubscribeChurnIsClosed(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil) // default limits
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+s.Addr+"/app/"+s.App.Key+"?protocol=7")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rw := io.ReadWriter(conn)
	if br != nil { // connection_established came with the handshake
		rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // write until the server closes the connection
		sub := []byte(`{"event":"pusher:subscribe","data":{"channel":"churn"}}`)
		unsub := []byte(`{"event":"pusher:unsubscribe","data":{"channel":"churn"}}`)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if wsutil.WriteClientText(conn, sub) != nil || wsutil.WriteClientText(conn, unsub) != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var rateErrors int
	for {
		// Not wsutil: it would answer the close on a socket we keep writing to.
		h, err := ws.ReadHeader(rw)
		if err == nil && h.Length > 64<<10 {
			err = fmt.Errorf("a %d-byte frame", h.Length)
		}
		payload := make([]byte, h.Length)
		if err == nil {
			_, err = io.ReadFull(rw, payload)
		}
		if err != nil {
			t.Fatalf("read: %v (after %d rate errors; want a 4100 close)", err, rateErrors)
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(payload)
			if code != 4100 || rateErrors == 0 {
				t.Fatalf("closed with %d after %d rate errors, want 4100 after at least one 4301", code, rateErrors)
			}
			return
		}
		if strings.Contains(string(payload), `"code":4301`) {
			rateErrors++
		}
	}
}
