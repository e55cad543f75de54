package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/store"
)

// consoleClient is a signed-in browser of the console.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, addr, password string) *consoleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: "http://" + addr, hc: &http.Client{Jar: jar}}
	st, body := c.do("POST", "/console/api/login", map[string]string{"password": password})
	if st != 200 {
		t.Fatalf("sign in: %d %s", st, body)
	}
	var r struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	c.csrf = r.CSRF
	return c
}

func (c *consoleClient) do(method, path string, body any) (int, string) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// stream opens an app's debug stream and returns its data lines.
func (c *consoleClient) stream(ctx context.Context, appID string) <-chan string {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/console/api/apps/"+appID+"/stream", nil)
	resp, err := c.hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("stream: %v %v", resp, err)
	}
	lines := make(chan string, 256)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
		close(lines)
	}()
	return lines
}

func waitLine(t *testing.T, lines <-chan string, substr ...string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended waiting for %q", substr)
			}
			all := true
			for _, s := range substr {
				all = all && strings.Contains(l, s)
			}
			if all {
				return l
			}
		case <-deadline:
			t.Fatalf("no stream entry with %q within 5s", substr)
		}
	}
}

func TestConsoleAppQuotaAndDisable(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Console.Password = "admin-pw" })
	cc := signIn(t, s.Addr, "admin-pw")
	st, body := cc.do("POST", "/console/api/apps", map[string]any{"name": "Quota", "daily_message_quota": 3})
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	var app struct{ ID, Key, Secret string }
	_ = json.Unmarshal([]byte(body), &app)

	// The new app works at once: no restart.
	ws := pixiutest.Dial(t, s.Addr, app.Key)
	ws.Subscribe("news", "", "", "")
	rest := &pixiutest.REST{Addr: s.Addr, ID: app.ID, Key: app.Key, Secret: app.Secret}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := cc.stream(ctx, app.ID)

	// protocol.md §8: each publish is 1 message and each delivery 1 more.
	rest.Trigger(t, []string{"news"}, "a", "1") // 2 used
	ws.Expect("a")
	waitLine(t, lines, `"type":"api_message"`, `"event":"a"`)
	rest.Trigger(t, []string{"news"}, "b", "2") // 4 used: the publish itself fit in the quota of 3
	ws.Expect("b")
	st, body = rest.Do(t, "POST", "/apps/"+app.ID+"/events", "", map[string]any{"name": "c", "channel": "news", "data": "3"})
	if st != 403 || !strings.Contains(body, "Over quota") {
		t.Fatalf("over quota publish: %d %s", st, body)
	}
	waitLine(t, lines, `"type":"error"`, `"status":403`, "Over quota")
	ws.Quiet("c", 100*time.Millisecond)
	// Over quota, nothing else breaks: the socket stays, other apps publish.
	ws.Send("pusher:ping", "", map[string]any{})
	ws.Expect("pusher:pong")
	s.REST().Trigger(t, []string{"news"}, "other-app", "1")

	// A wrong signature shows in the debug console too.
	bad := *rest
	bad.Secret = strings.Repeat("0", 20)
	if st, _ := bad.Do(t, "POST", "/apps/"+app.ID+"/events", "", map[string]any{"name": "x", "channel": "news", "data": "1"}); st != 401 {
		t.Fatalf("bad signature: %d", st)
	}
	waitLine(t, lines, `"type":"error"`, `"status":401`)

	st, _ = cc.do("PATCH", "/console/api/apps/"+app.ID, map[string]any{"enabled": false})
	if st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if code := ws.WaitClosed(); code != 4003 {
		t.Fatalf("disabled app's socket closed with %d, want 4003", code)
	}
	waitLine(t, lines, `"type":"disconnection"`)
}

// TestStoreChangesFromAnotherProcess plays `pixiu apps create` and `delete`
// run beside the server on the same database.
func TestStoreChangesFromAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	s := pixiutest.Start(t, func(c *config.Config) { c.Store.Path = path })
	cli, err := store.Open(context.Background(), store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st := apps.Defaults()
	st.Name = "from the CLI"
	a, err := cli.CreateApp(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	pixiutest.WaitFor(t, 6*time.Second, func() error {
		_, err := s.Apps().ByKey(a.Key)
		return err
	})
	ws := pixiutest.Dial(t, s.Addr, a.Key)
	ws.Subscribe("room", "", "", "")
	rest := &pixiutest.REST{Addr: s.Addr, ID: a.ID, Key: a.Key, Secret: a.Secret}
	rest.Trigger(t, []string{"room"}, "hello", "{}")
	ws.Expect("hello")

	rotated, err := cli.RotateSecret(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	pixiutest.WaitFor(t, 6*time.Second, func() error {
		if st, _ := rest.Do(t, "GET", "/apps/"+a.ID+"/channels", "", nil); st != 401 {
			return fmt.Errorf("old secret still accepted: %d", st)
		}
		return nil
	})
	rest.Secret = rotated.Secret
	rest.Trigger(t, []string{"room"}, "again", "{}")
	ws.Expect("again")

	if err := cli.DeleteApp(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if code := ws.WaitClosed(); code != 4001 {
		t.Fatalf("deleted app's socket closed with %d, want 4001", code)
	}
}
