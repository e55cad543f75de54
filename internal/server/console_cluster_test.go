package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// TestConsoleStreamAcrossNodes: two nodes on one Redis; a debug console
// open on n2 shows what happens on n1 (connection, subscription, an API
// message taken by n1's REST API), each entry naming its node, and what
// happens on n2 itself once. Nothing is relayed for an app nobody watches.
func TestConsoleStreamAcrossNodes(t *testing.T) {
	t.Parallel()
	prefix := redisPrefix(t)
	node := func(id string) *pixiutest.Server {
		return pixiutest.Start(t, func(c *config.Config) {
			c.Cluster.Redis = "redis://127.0.0.1:6379/0"
			c.Cluster.NodeID, c.Cluster.KeyPrefix = id, prefix
			c.Console.Password = "admin-pw"
		})
	}
	n1, n2 := node("n1"), node("n2")
	for _, n := range []*pixiutest.Server{n1, n2} {
		pixiutest.WaitFor(t, 20*time.Second, func() error {
			resp, err := http.Get("http://" + n.Addr + "/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("ready: %d (is Redis up at 127.0.0.1:6379?)", resp.StatusCode)
			}
			return nil
		})
	}
	cc := signIn(t, n2.Addr, "admin-pw")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := cc.stream(ctx, n2.App.ID)

	// Interest reaches n1 within about two health-loop ticks: publish on n1
	// until its API message shows on n2's stream.
	seen := false
	for i := 0; !seen && i < 40; i++ {
		n1.REST().Trigger(t, []string{"news"}, fmt.Sprintf("probe-%d", i), "1")
		select {
		case l := <-lines:
			seen = strings.Contains(l, `"type":"api_message"`) && strings.Contains(l, `"node":"n1"`)
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !seen {
		t.Fatal("no API message of n1 on n2's debug stream within 20 s")
	}
	ws := pixiutest.Dial(t, n1.Addr, n1.App.Key)
	waitLine(t, lines, `"type":"connection"`, ws.SocketID, `"node":"n1"`)
	ws.Subscribe("room", "", "", "")
	waitLines(t, lines, []string{`"type":"subscribed"`, `"channel":"room"`, `"node":"n1"`},
		[]string{`"type":"channel_occupied"`, `"channel":"room"`, `"node":"n1"`})
	n1.REST().Trigger(t, []string{"room"}, "from-n1", `{"x":1}`)
	waitLine(t, lines, `"type":"api_message"`, `"event":"from-n1"`, `"node":"n1"`)
	// n2's own entries arrive once, named n2.
	n2.REST().Trigger(t, []string{"room"}, "from-n2", `{"x":2}`)
	waitLine(t, lines, `"type":"api_message"`, `"event":"from-n2"`, `"node":"n2"`)
	n1.REST().Trigger(t, []string{"room"}, "marker", "1")
	waitLine(t, lines, `"event":"marker"`)
	select {
	case l := <-lines:
		if strings.Contains(l, "from-n2") {
			t.Fatalf("n2's entry arrived twice: %s", l)
		}
	case <-time.After(300 * time.Millisecond):
	}

	// The console closes: n2 withdraws its interest (n1 stops sending at
	// its next tick).
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if m, _ := rdb.ZRange(context.Background(), prefix+"{g}:dw", 0, -1).Result(); !slices.Contains(m, n2.App.ID+"\nn2") {
		t.Fatalf("n2's interest is not registered: %q", m)
	}
	cancel()
	pixiutest.WaitFor(t, 15*time.Second, func() error {
		m, err := rdb.ZRange(context.Background(), prefix+"{g}:dw", 0, -1).Result()
		if err != nil || len(m) != 0 {
			return fmt.Errorf("debug interest still registered: %q %v", m, err)
		}
		return nil
	})
}

// redisPrefix is a key prefix of this test's own on the shared Redis; its
// keys are deleted when the test ends.
func redisPrefix(t *testing.T) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "pixiutest:server:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// waitLines waits for one line matching each of wants, in any order.
func waitLines(t *testing.T, lines <-chan string, wants ...[]string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	left := slices.Clone(wants)
	for len(left) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended waiting for %q", left)
			}
			left = slices.DeleteFunc(left, func(w []string) bool {
				for _, s := range w {
					if !strings.Contains(l, s) {
						return false
					}
				}
				return true
			})
		case <-deadline:
			t.Fatalf("no stream entries with %q within 10s", left)
		}
	}
}
