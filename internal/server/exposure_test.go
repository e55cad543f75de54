package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// ownApp replaces the development app with one of the user's own.
func ownApp(c *config.Config) {
	c.Apps = []apps.App{pixiutest.App("prod-id", "prod-key", "prod-secret", func(s *apps.Settings) { s.Name = "Production" })}
}

func status(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHomeListsNoAppsOfARealSetup(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, ownApp)
	page := get(t, "http://"+s.Addr+"/")
	for _, secret := range []string{"prod-id", "prod-key", "Production"} {
		if strings.Contains(page, secret) {
			t.Errorf("the public home page shows %q of the user's app", secret)
		}
	}
	dev := pixiutest.Start(t, nil) // the development app alone: its public credentials are shown
	if page := get(t, "http://"+dev.Addr+"/"); !strings.Contains(page, "<code>app-key</code>") {
		t.Errorf("home page of a development setup does not show the development app")
	}
}

func TestAdminListenerServesMetrics(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.AdminAddr = "127.0.0.1:0" })
	if st, _ := status(t, "http://"+s.Addr+"/metrics"); st != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port with admin_addr set: %d, want 404", st)
	}
	admin := s.AdminAddr()
	if admin == nil {
		t.Fatal("no admin listener with admin_addr set")
	}
	st, body := status(t, "http://"+admin.String()+"/metrics")
	if st != http.StatusOK || !strings.Contains(body, `pixiu_connections{app_id="app-id"}`) {
		t.Fatalf("GET /metrics on the admin port: %d %s", st, body)
	}
	if st, _ := status(t, "http://"+admin.String()+"/debug/pprof/"); st != http.StatusOK {
		t.Errorf("GET /debug/pprof/ on the admin port: %d, want 200", st)
	}
	plain := pixiutest.Start(t, nil) // no admin_addr: /metrics stays on the public port
	if st, _ := status(t, "http://"+plain.Addr+"/metrics"); st != http.StatusOK {
		t.Errorf("GET /metrics without admin_addr: %d, want 200", st)
	}
}

// TestHealthIsLivenessReadyIsReadiness runs the Redis engine through a proxy
// to the test Redis, then cuts the proxy: /ready turns 503 (cannot serve)
// while /health stays 200 (the process and its loops are fine), so a
// liveness probe does not restart every node during a Redis outage.
func TestHealthIsLivenessReadyIsReadiness(t *testing.T) {
	t.Parallel()
	proxy := newTCPProxy(t, "127.0.0.1:6379")
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://" + proxy.addr() + "/0"
		c.Cluster.KeyPrefix = "pixiu-health-" + t.Name() + ":"
	})
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if st, body := status(t, "http://"+s.Addr+"/ready"); st != http.StatusOK {
			return errorf("ready: %d %s (is Redis up at 127.0.0.1:6379?)", st, body)
		}
		return nil
	})
	proxy.cut()
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if st, body := status(t, "http://"+s.Addr+"/ready"); st != http.StatusServiceUnavailable {
			return errorf("ready with Redis cut off: %d %s, want 503", st, body)
		}
		return nil
	})
	for range 3 { // several probes: they reach every event loop
		if st, body := status(t, "http://"+s.Addr+"/health"); st != http.StatusOK {
			t.Fatalf("health with Redis cut off: %d %s, want 200", st, body)
		}
	}
}

func errorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// tcpProxy forwards connections to a target until cut, which closes the
// listener and every forwarded connection.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, u) {
			return
		}
		go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
		go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
	}
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
