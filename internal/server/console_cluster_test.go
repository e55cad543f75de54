package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/apps"
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
	n1, n2 := consoleNode(t, prefix, "n1", nil), consoleNode(t, prefix, "n2", nil)
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

// consoleNode starts a node named id on the shared Redis under prefix, each
// with its own SQLite store, the console's password "admin-pw", and waits
// until it is ready.
func consoleNode(t *testing.T, prefix, id string, edit func(*config.Config)) *pixiutest.Server {
	t.Helper()
	n := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://127.0.0.1:6379/0"
		c.Cluster.NodeID, c.Cluster.KeyPrefix = id, prefix
		c.Console.Password = "admin-pw"
		if edit != nil {
			edit(c)
		}
	})
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
	return n
}

// TestConsoleUsageAcrossNodes: two nodes on one Redis, each with its own
// SQLite store. The console on n2 counts n1's connections (with the
// breakdown by node) and the cluster's peak, and its messages today and the
// app's daily quota count n1's publishes: n2 refuses a publish once n1 has
// used the quota.
func TestConsoleUsageAcrossNodes(t *testing.T) {
	t.Parallel()
	prefix := redisPrefix(t)
	quota := func(c *config.Config) {
		c.Apps = []apps.App{pixiutest.App("q-app", "q-key", "q-secret", func(s *apps.Settings) { s.DailyMessageQuota = 4 })}
	}
	n1, n2 := consoleNode(t, prefix, "n1", quota), consoleNode(t, prefix, "n2", quota)
	cc := signIn(t, n2.Addr, "admin-pw")
	type usageView struct {
		Messages    int64            `json:"messages_today"`
		Connections int64            `json:"connections"`
		Peak        int64            `json:"peak_connections"`
		Nodes       map[string]int64 `json:"nodes"`
		ClusterWide bool             `json:"cluster_wide"`
	}
	usage := func() usageView {
		st, body := cc.do("GET", "/console/api/apps/q-app/usage", nil)
		if st != 200 {
			t.Fatalf("usage: %d %s", st, body)
		}
		var u usageView
		if err := json.Unmarshal([]byte(body), &u); err != nil {
			t.Fatal(err)
		}
		return u
	}

	a, b := pixiutest.Dial(t, n1.Addr, "q-key"), pixiutest.Dial(t, n1.Addr, "q-key")
	pixiutest.Dial(t, n2.Addr, "q-key")
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		u := usage()
		if !u.ClusterWide || u.Connections != 3 || u.Nodes["n1"] != 2 || u.Nodes["n2"] != 1 || u.Peak < 3 {
			return fmt.Errorf("usage on n2: %+v, want 3 connections (n1: 2, n2: 1), peak ≥ 3", u)
		}
		return nil
	})
	a.CloseWith(1000)
	b.CloseWith(1000)
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if u := usage(); u.Connections != 1 || u.Nodes["n1"] != 0 || u.Peak < 3 {
			return fmt.Errorf("usage on n2: %+v, want 1 connection and the peak of 3 kept", u)
		}
		return nil
	})

	// n1 uses the quota (a publish to a channel nobody listens to counts 1).
	for i := range 4 {
		n1.REST().Trigger(t, []string{"empty"}, fmt.Sprintf("e%d", i), "1")
	}
	// n2's own store has none of these; the tally does, within a flush (5 s) of each node.
	pixiutest.WaitFor(t, 20*time.Second, func() error {
		if u := usage(); u.Messages < 4 {
			return fmt.Errorf("messages today on n2: %d, want n1's 4", u.Messages)
		}
		return nil
	})
	st, body := n2.REST().Do(t, "POST", "/apps/q-app/events", "", map[string]any{"name": "x", "channel": "empty", "data": "1"})
	if st != 403 || !strings.Contains(body, "Over quota") {
		t.Fatalf("publish on n2 after n1 used the quota: %d %s, want 403 Over quota", st, body)
	}

	// The hourly chart counts them too.
	st, body = cc.do("GET", "/console/api/apps/q-app/usage", nil)
	var h struct {
		Hours []struct {
			Messages int64 `json:"messages"`
			Peak     int64 `json:"peak_connections"`
		} `json:"hours"`
	}
	if err := json.Unmarshal([]byte(body), &h); st != 200 || err != nil || len(h.Hours) != 24 {
		t.Fatalf("usage hours: %d %v %s", st, err, body)
	}
	if last := h.Hours[23]; last.Messages < 4 || last.Peak < 3 {
		t.Fatalf("this hour on n2: %+v, want n1's 4 messages and the peak of 3", last)
	}
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
