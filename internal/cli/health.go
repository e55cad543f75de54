package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
)

const healthSynopsis = `pixiu health [--ready] [--config FILE] [--addr HOST:PORT] [--tls=true|false] [--timeout D]

Asks a running server on this machine whether it is alive (GET /health) or,
with --ready, ready for traffic (GET /ready), and exits 0 when it answers 200,
1 otherwise (with the reason on stderr). The address comes from the same
configuration as 'pixiu serve' (defaults < config file < PIXIU_* environment):
admin_addr when set, else host and port, a wildcard host (0.0.0.0, ::) meaning
loopback; over HTTPS when tls.* is set and the probe goes to the port (the
certificate is not verified: it names the public host, and the probe asks
only whether this machine's server answers). Made for container and
orchestrator health checks: it needs no shell.`

// healthBodyLimit bounds how much of a probe's answer is read and shown.
const healthBodyLimit = 4 << 10

// runHealth runs `pixiu health`.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := newCommand("pixiu health", healthSynopsis, stdout, stderr)
	file := c.fs.String("config", getenv("PIXIU_CONFIG"), "YAML config file (env PIXIU_CONFIG)")
	ready := c.fs.Bool("ready", false, "check GET /ready (serving traffic) instead of GET /health (alive)")
	addr := c.fs.String("addr", "", "HOST:PORT to ask instead of the configured address")
	var useTLS boolFlag
	c.fs.Var(&useTLS, "tls", "HTTPS or not (default: HTTPS when tls.* is set and there is no admin_addr)")
	timeout := c.fs.Duration("timeout", 5*time.Second, "give up after this long")
	if _, code := c.parse(args, 0); code >= 0 {
		return code
	}
	if *timeout <= 0 {
		return c.fail("--timeout must be positive, not %s", *timeout)
	}
	if *addr != "" {
		if _, _, err := net.SplitHostPort(*addr); err != nil {
			return c.fail("--addr %q: want HOST:PORT", *addr)
		}
	}
	cfg, err := config.Load(*file, getenv)
	if err != nil {
		reportConfigError(stderr, err)
		return 1
	}
	target := *addr
	if target == "" {
		target = probeAddr(cfg)
	}
	scheme := "http"
	if (useTLS.v == nil && cfg.TLS.Enabled() && cfg.AdminAddr == "") || (useTLS.v != nil && *useTLS.v) {
		scheme = "https"
	}
	path := "/health"
	if *ready {
		path = "/ready"
	}
	url := scheme + "://" + target + path
	status, body, err := probe(ctx, url, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "pixiu health: GET %s: %v\n", url, err)
		return 1
	}
	if status != http.StatusOK {
		msg := fmt.Sprintf("%d %s", status, http.StatusText(status))
		if body != "" {
			msg += ": " + body
		}
		fmt.Fprintf(stderr, "pixiu health: GET %s: %s\n", url, msg)
		return 1
	}
	fmt.Fprintf(stdout, "ok: GET %s: 200 %s\n", url, body)
	return 0
}

// probeAddr is the address a local probe reaches the configured server on:
// the admin listener when there is one (it serves /health and /ready too),
// else the public host and port; wildcard and empty hosts become loopback.
func probeAddr(cfg config.Config) string {
	host, port := cfg.Host, strconv.Itoa(cfg.Port)
	if cfg.AdminAddr != "" {
		if h, p, err := net.SplitHostPort(cfg.AdminAddr); err == nil {
			host, port = h, p
		}
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// probe GETs url once and returns the status and the answer's first line,
// trimmed and bounded. Redirects are not followed: only 200 is healthy.
func probe(ctx context.Context, url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
			// The server's certificate names its public host, not the
			// loopback address probed; the probe sends nothing secret.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			return 0, "", fmt.Errorf("no answer within %s", timeout)
		case errors.Is(err, context.Canceled):
			return 0, "", errors.New("interrupted")
		}
		return 0, "", fmt.Errorf("cannot connect: %w", unwrapURLError(err))
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, healthBodyLimit))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return res.StatusCode, strings.TrimSpace(line), nil
}

// unwrapURLError drops net/http's "Get "url": " prefix (the caller names
// the URL already).
func unwrapURLError(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}
