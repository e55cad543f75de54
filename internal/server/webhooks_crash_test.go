package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// TestWebhookCrash kills the real binary (SIGKILL) while webhooks are queued
// for a receiver that is down, some sealed into batches and some not yet,
// then restarts it on the same store: the receiver gets every webhook.
func TestWebhookCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "pixiu")
	build := exec.Command("go", "build", "-o", bin, "github.com/pixiu-io/pixiu/cmd/pixiu")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hookAddr := reserveAddr(t) // nothing listens there yet: connection refused
	store := filepath.Join(dir, "data", "pixiu.db")
	cfgFile := filepath.Join(dir, "pixiu.yaml")
	cfg := fmt.Sprintf(`demo: false
log_level: debug
store:
  path: %q
webhooks:
  batch_interval: 1500ms
  timeout: 1s
apps:
  - id: app-id
    key: app-key
    secret: app-secret
    webhooks:
      - url: "http://%s/hook"
        events: [channel_occupied]
`, store, hookAddr)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := startBinary(t, bin, cfgFile)
	c := pixiutest.Dial(t, srv.addr, "app-key")
	const wave1, wave2 = 20, 10
	for i := range wave1 {
		c.Subscribe(fmt.Sprintf("crash-%02d", i), "", "", "")
	}
	waitCounts(t, store, func(n webhook.Counts) bool { return n.Unsealed == 0 && n.Pending > 0 })
	for i := wave1; i < wave1+wave2; i++ {
		c.Subscribe(fmt.Sprintf("crash-%02d", i), "", "", "")
	}
	waitCounts(t, store, func(n webhook.Counts) bool { return n.Unsealed == wave2 })
	srv.kill(t)

	rcv := pixiutest.NewReceiverOn(t, hookAddr)
	startBinary(t, bin, cfgFile)
	evs := rcv.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Channel] = true
		}
		for i := range wave1 + wave2 {
			if ch := fmt.Sprintf("crash-%02d", i); !seen[ch] {
				return fmt.Errorf("%s not delivered", ch)
			}
		}
		return nil
	})
	checkWebhooks(t, rcv.Delivered(), "app-key", "app-secret")
	t.Logf("%d events delivered in %d requests after the crash", len(evs), len(rcv.Delivered()))
}

func reserveAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitCounts polls the outbox file (as another process would) until ok.
func waitCounts(t *testing.T, store string, ok func(webhook.Counts) bool) {
	t.Helper()
	out, err := webhook.OpenSQLite(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		n, err := out.Counts(context.Background())
		if err != nil {
			return err
		}
		if !ok(n) {
			return fmt.Errorf("outbox %+v", n)
		}
		return nil
	})
}

type process struct {
	cmd  *exec.Cmd
	addr string
	out  *pixiutest.SyncBuffer
	done chan struct{}
}

// startBinary runs `pixiu serve` on a free port and waits for /ready; the
// process is killed when the test ends.
func startBinary(t *testing.T, bin, cfgFile string) *process {
	t.Helper()
	addr := reserveAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	p := &process{addr: addr, out: &pixiutest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", cfgFile, "--host", "127.0.0.1", "--port", port)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("pixiu output (pid %d):\n%s", p.cmd.Process.Pid, p.out.String())
		}
	})
	pixiutest.WaitFor(t, 20*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("pixiu exited: %s", p.out.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ready: %s", strconv.Itoa(resp.StatusCode))
		}
		return nil
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
}
