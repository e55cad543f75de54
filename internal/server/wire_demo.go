package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/demo"
	"github.com/pixiu-io/pixiu/pusher"
)

// wireDemo mounts the exchange demo under /demo/ when enabled. The demo
// publishes only as the development app or the app named by demo_app_id
// (s.demoApp, looked up on every request), through the Go SDK to this
// server's own REST API over loopback, the way any application would.
func (s *Server) wireDemo(mux *http.ServeMux) error {
	if !s.demoEnabled() {
		return nil
	}
	log := s.log.With("component", "demo")
	pub := &demoPublisher{app: s.demoApp, log: log,
		// s.ln is set before Run starts serving, so before the first trade.
		addr: func() net.Addr { return s.ln.Addr() }}
	if s.cfg.TLS.Enabled() {
		// The port speaks only TLS, under a certificate for public names:
		// the demo reaches the REST API in-process instead (still a plain
		// HTTP request to the same port's paths, signed by the Go SDK).
		pub.dial = s.dialSelf
	}
	appKey := func() string {
		if a := s.demoApp(); a != nil {
			return a.Key
		}
		return ""
	}
	d, err := demo.New(demo.Options{Publisher: pub, AppKey: appKey, PusherJS: demo.EmbeddedPusherJS(),
		PusherJSPath: pusherJSPath(), Log: s.log, History: pub.history})
	if err != nil {
		return err
	}
	if s.cfg.DemoAppID != "" {
		if _, err := s.apps.ByID(s.cfg.DemoAppID); err != nil {
			log.Warn("demo_app_id names no app: the demo publishes nothing until it exists", "app_id", s.cfg.DemoAppID)
		}
	}
	s.closers = append(s.closers, pub.close)
	mux.Handle("/demo/", d)
	return nil
}

// demoApp returns the enabled app the demo publishes as: the one named by
// demo_app_id, else the development app; nil when there is none. The demo
// never picks another app by itself.
func (s *Server) demoApp() *apps.App {
	id := s.cfg.DemoAppID
	if id == "" {
		id = config.DefaultApp().ID
	}
	a, err := s.apps.ByID(id)
	if err != nil || !a.Enabled || (s.cfg.DemoAppID == "" && !isDevApp(a)) {
		return nil
	}
	return a
}

// pusherJSPath returns where `npm ci` put pusher-js's browser build: under
// the working directory (go run), else beside the binary's directory
// (bin/pixiu in a checkout). The demo reads it only when the binary carries
// no copy of its own (built without `make build`'s JS step); when neither
// exists the demo pages load pusher-js from the CDN.
func pusherJSPath() string {
	const rel = "node_modules/pusher-js/dist/web/pusher.min.js"
	candidates := []string{rel}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", rel))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return rel
}

// demoPublisher is the demo's demo.Publisher: a pusher.Client for the demo
// app talking to this server over loopback. The client is built on the first
// trade, because the listening port is known only once New has listened, and
// rebuilt when the app's credentials change (a rotated secret). It is safe
// for concurrent use.
type demoPublisher struct {
	app  func() *apps.App // the app to publish as; nil when there is none
	addr func() net.Addr
	dial func() (net.Conn, error) // set with TLS: connect in-process (Server.dialSelf)
	log  *slog.Logger

	mu          sync.Mutex
	client      *pusher.Client   // guarded by mu; nil until the first trade
	key, secret string           // guarded by mu: the credentials client uses
	retired     []*pusher.Client // guarded by mu: replaced clients, still draining until close
	closed      bool             // guarded by mu
}

var _ demo.Publisher = (*demoPublisher)(nil)

// TriggerAsync queues the event on the current client.
func (p *demoPublisher) TriggerAsync(channels []string, event string, data any, opts *pusher.TriggerOptions) error {
	c, err := p.current()
	if err != nil {
		return err
	}
	return c.TriggerAsync(channels, event, data, opts)
}

// current returns the client for the app's current credentials.
// history reads the trades kept in the demo channel's history (the demo
// app keeps it: Server.historyPolicy).
func (p *demoPublisher) history(ctx context.Context, limit int) ([]pusher.HistoryEvent, error) {
	c, err := p.current()
	if err != nil {
		return nil, err
	}
	h, err := c.ChannelHistoryContext(ctx, demo.Channel, pusher.HistoryParams{Limit: limit})
	if err != nil {
		return nil, err
	}
	return h.Events, nil
}

func (p *demoPublisher) current() (*pusher.Client, error) {
	app := p.app()
	if app == nil {
		return nil, errors.New("demo: no app to publish as")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, pusher.ErrClosed
	}
	if p.client != nil && p.key == app.Key && p.secret == app.Secret {
		return p.client, nil
	}
	var hc *http.Client
	if p.dial != nil {
		hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) { return p.dial() }}}
	}
	c, err := pusher.New(pusher.Options{
		AppID: app.ID, Key: app.Key, Secret: app.Secret,
		Host: loopback(p.addr()), HTTPClient: hc,
		OnAsyncError: func(err error) {
			p.log.Warn("demo trade not published", "app_id", app.ID, "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("demo sdk client: %w", err)
	}
	if p.client != nil {
		p.retired = append(p.retired, p.client)
	}
	p.client, p.key, p.secret = c, app.Key, app.Secret
	return c, nil
}

// close sends what is still queued (within a few seconds) and stops the
// clients' workers.
func (p *demoPublisher) close() error {
	p.mu.Lock()
	p.closed = true
	clients := p.retired
	if p.client != nil {
		clients = append(clients, p.client)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, c := range clients {
		if err := c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("demo sdk client: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// loopback returns "host:port" to reach a listener at a from this machine:
// its own IP, or 127.0.0.1 when it listens on every address.
func loopback(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}
