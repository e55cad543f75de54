package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

func runHealthArgs(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append([]string{"health"}, args...), env(vars), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestHealthAgainstRealServer: `pixiu health` finds the server from the
// PIXIU_* environment as `serve` reads it, and --ready asks /ready.
func TestHealthAgainstRealServer(t *testing.T) {
	t.Parallel()
	srv := pixiutest.Start(t, nil)
	host, port, _ := net.SplitHostPort(srv.Addr)
	vars := map[string]string{"PIXIU_HOST": host, "PIXIU_PORT": port}

	code, out, errOut := runHealthArgs(t, vars)
	if code != 0 || out != "ok: GET http://"+srv.Addr+"/health: 200 {\"ok\":true}\n" || errOut != "" {
		t.Fatalf("health = %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runHealthArgs(t, vars, "--ready")
	if code != 0 || !strings.HasPrefix(out, "ok: GET http://"+srv.Addr+"/ready: 200 {\"ok\":true,") || errOut != "" {
		t.Fatalf("health --ready = %d, stdout %q, stderr %q", code, out, errOut)
	}
	// --addr overrides the configuration.
	code, out, _ = runHealthArgs(t, map[string]string{"PIXIU_PORT": "1"}, "--addr", srv.Addr)
	if code != 0 || !strings.Contains(out, srv.Addr+"/health: 200") {
		t.Fatalf("health --addr = %d, %q", code, out)
	}
}

// TestHealthUsesAdminAddr: with admin_addr set the probe goes there (the
// public port here is one nothing listens on).
func TestHealthUsesAdminAddr(t *testing.T) {
	t.Parallel()
	srv := pixiutest.Start(t, func(c *config.Config) { c.AdminAddr = "127.0.0.1:0" })
	admin := srv.AdminAddr().String()
	code, out, errOut := runHealthArgs(t, map[string]string{"PIXIU_ADMIN_ADDR": admin, "PIXIU_PORT": strconv.Itoa(closedPort(t))}, "--ready")
	if code != 0 || !strings.HasPrefix(out, "ok: GET http://"+admin+"/ready: 200") {
		t.Fatalf("health --ready via admin_addr = %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestHealthOverTLS: with tls.* set (and no admin_addr) the probe speaks
// HTTPS to the port; --tls=false forces plain HTTP, which the TLS port
// refuses.
func TestHealthOverTLS(t *testing.T) {
	t.Parallel()
	cert, key, _ := pixiutest.NewCA(t).Leaf(t)
	srv := pixiutest.Start(t, func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, key })
	host, port, _ := net.SplitHostPort(srv.Addr)
	vars := map[string]string{"PIXIU_HOST": host, "PIXIU_PORT": port, "PIXIU_TLS_CERT_FILE": cert, "PIXIU_TLS_KEY_FILE": key}
	code, out, errOut := runHealthArgs(t, vars, "--ready")
	if code != 0 || !strings.HasPrefix(out, "ok: GET https://"+srv.Addr+"/ready: 200 ") {
		t.Fatalf("health --ready over TLS = %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runHealthArgs(t, vars, "--tls=false")
	if code != 1 || !strings.HasPrefix(errOut, "pixiu health: GET http://"+srv.Addr+"/health: 400 Bad Request") {
		t.Fatalf("health --tls=false against the TLS port = %d, stderr %q", code, errOut)
	}
}

// TestHealthUnhealthyAnswers: anything but 200 exits 1 naming the URL, the
// status and the server's reason; redirects are not followed.
func TestHealthUnhealthyAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready":
			http.Error(w, "not ready: draining for shutdown", http.StatusServiceUnavailable)
		case "/health":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	code, out, errOut := runHealthArgs(t, nil, "--addr", addr, "--ready")
	if code != 1 || out != "" || errOut != "pixiu health: GET http://"+addr+"/ready: 503 Service Unavailable: not ready: draining for shutdown\n" {
		t.Fatalf("503: %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runHealthArgs(t, nil, "--addr", addr)
	if code != 1 || !strings.Contains(errOut, "/health: 302 Found") {
		t.Fatalf("302: %d, stderr %q", code, errOut)
	}
}

// TestHealthUnreachable: nothing listening, or a listener that never
// answers, exits 1 with the reason, within the timeout.
func TestHealthUnreachable(t *testing.T) {
	t.Parallel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(closedPort(t)))
	code, _, errOut := runHealthArgs(t, nil, "--addr", addr)
	if code != 1 || !strings.HasPrefix(errOut, "pixiu health: GET http://"+addr+"/health: cannot connect: ") ||
		!strings.Contains(errOut, "refused") {
		t.Fatalf("closed port: %d, stderr %q", code, errOut)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and never answer
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	start := time.Now()
	code, _, errOut = runHealthArgs(t, nil, "--addr", ln.Addr().String(), "--timeout", "300ms")
	if code != 1 || errOut != "pixiu health: GET http://"+ln.Addr().String()+"/health: no answer within 300ms\n" {
		t.Fatalf("silent server: %d, stderr %q", code, errOut)
	}
	if time.Since(start) > time.Minute {
		t.Fatalf("the probe did not stop at its timeout")
	}
}

// TestHealthUsage: flag errors exit 2, --help 0, a bad configuration 1.
func TestHealthUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		vars map[string]string
		code int
		err  string
	}{
		{[]string{"--help"}, nil, 0, ""},
		{[]string{"--bogus"}, nil, 2, "unknown flag --bogus"},
		{[]string{"extra"}, nil, 2, `unexpected argument "extra"`},
		{[]string{"--addr", "localhost"}, nil, 2, `--addr "localhost": want HOST:PORT`},
		{[]string{"--timeout", "0s"}, nil, 2, "--timeout must be positive"},
		{nil, map[string]string{"PIXIU_PORT": "many"}, 1, "PIXIU_PORT"},
	} {
		code, _, errOut := runHealthArgs(t, tc.vars, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("health %v: %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
}

func TestProbeAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host, admin string
		port        int
		want        string
	}{
		{"0.0.0.0", "", 6001, "127.0.0.1:6001"},
		{"", "", 6001, "127.0.0.1:6001"},
		{"::", "", 7000, "127.0.0.1:7000"},
		{"10.1.2.3", "", 6001, "10.1.2.3:6001"},
		{"::1", "", 6001, "[::1]:6001"},
		{"0.0.0.0", ":9090", 6001, "127.0.0.1:9090"},
		{"0.0.0.0", "0.0.0.0:9090", 6001, "127.0.0.1:9090"},
		{"0.0.0.0", "10.0.0.5:9090", 6001, "10.0.0.5:9090"},
	} {
		cfg := config.Config{Host: tc.host, Port: tc.port, AdminAddr: tc.admin}
		if got := probeAddr(cfg); got != tc.want {
			t.Errorf("probeAddr(host %q, port %d, admin %q) = %q, want %q", tc.host, tc.port, tc.admin, got, tc.want)
		}
	}
}

// closedPort returns a loopback port nothing listens on (just closed).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
