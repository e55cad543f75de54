// Package server is the composition root: it turns a config.Config into the
// running parts (apps registry, cluster engine, hub, WebSocket transport,
// REST API, pages) and owns the listener and the graceful shutdown. It is the
// only package that imports all the others.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/httpwire"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/recoveryjs"
	"github.com/pixiu-io/pixiu/internal/reqid"
	"github.com/pixiu-io/pixiu/internal/restapi"
	"github.com/pixiu-io/pixiu/internal/tlsterm"
	"github.com/pixiu-io/pixiu/internal/webhook"
	"github.com/pixiu-io/pixiu/internal/wsconn"
)

// Server is a running Pixiu node.
type Server struct {
	cfg       config.Config
	log       *slog.Logger
	apps      *apps.Registry
	hub       *hub.Hub
	transport *wsconn.Transport
	http      *http.Server
	ln        net.Listener
	adminLn   net.Listener // admin_addr or pprof_addr; nil when neither is set
	observers observers
	closers   []func() error // run in reverse order by Close
	closeOnce sync.Once
	appState  // wire_console.go: app store, usage counting, debug tap, console

	webhooks *webhook.Sender // set by wireWebhooks
	metrics  http.Handler    // GET /metrics, set by wireMetrics
	api      *restapi.API
	tls      *tlsterm.Terminator // nil when the port is plain
	// deliveries counts event frames queued to sockets (one atomic add per
	// delivered message, in onDeliver).
	deliveries atomic.Int64
	// latency is the publish→last-write histogram (hub.Options.OnWritten).
	latency prometheus.Histogram
	// overQuota counts publishes refused over the daily quota, by app
	// (appID → *atomic.Int64; rare, off the hot path).
	overQuota sync.Map
}

// asyncFanout is the fan-out size above which, with the in-memory engine, a
// message is fanned out by the hub's shard goroutine rather than by the
// publisher (an event loop for REST and client events): hub.Options.AsyncFanout.
const asyncFanout = 256

// New builds every part from cfg and listens on cfg.Addr(). Call Run to serve.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = slog.New(reqid.NewHandler(log.Handler())) // request_id on the lines of REST and console requests
	s := &Server{cfg: cfg, log: log, latency: newLatencyHistogram()}
	s.apps = apps.NewRegistry(appsFromConfig(cfg.Apps))
	if err := s.wireStore(); err != nil {
		s.Close()
		return nil, err
	}
	h, err := hub.New(hub.Options{CacheTTL: cfg.Limits.CacheTTL.D(), Observer: &s.observers,
		OnDeliver: s.onDeliver(), History: s.historyPolicy,
		OnWritten:   func(d time.Duration) { s.latency.Observe(d.Seconds()) },
		AsyncFanout: asyncFanout, Log: log}, s.newEngine)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.hub = h
	s.closers = append(s.closers, h.Engine().Close)
	// The last usage flush runs before the engine closes, so that it reaches
	// the cluster's tally (Close is idempotent: wireStore's closer is a no-op).
	s.closers = append(s.closers, s.usage.Close)
	if err := s.wireWebhooks(); err != nil {
		s.Close()
		return nil, err
	}
	api := restapi.New(restapi.Options{
		Hub: h, Apps: s.apps, Log: log,
		MaxEventBytes:     cfg.Limits.MaxEventBytes,
		MaxChannelsPerPub: cfg.Limits.MaxChannelsPerPub,
		MaxBatchEvents:    cfg.Limits.MaxBatchEvents,
		MaxEventNameLen:   cfg.Limits.MaxEventNameLen,
		MaxChannelNameLen: cfg.Limits.MaxChannelNameLen,
		MaxHistoryLimit:   cfg.Limits.HistoryMaxReplay,
		Admit:             s.admitPublish(),
		OnError:           s.onAPIError(),
	})
	s.api = api
	var direct wsconn.DirectFunc
	if !h.Engine().Blocking() {
		// The in-memory engine never blocks, so the event loops may answer
		// keep-alive REST calls themselves (docs/PERFORMANCE.md).
		direct = api.Direct
	}
	tlsTerm, err := s.newTLS()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.transport, err = wsconn.New(wsconn.Options{
		Hub: h, Apps: s.apps, Log: log,
		ActivityTimeout:   cfg.ActivityTimeout.D(),
		PongTimeout:       cfg.PongTimeout.D(),
		UserAuthTimeout:   cfg.UserAuthTimeout.D(),
		MaxMessageBytes:   cfg.Limits.MaxMessageBytes,
		MaxPendingBytes:   cfg.Limits.MaxPendingBytes,
		MaxOutboundBytes:  cfg.Limits.MaxOutboundBytes,
		MaxEventBytes:     cfg.Limits.MaxEventBytes,
		MaxChannelNameLen: cfg.Limits.MaxChannelNameLen,
		MaxEventNameLen:   cfg.Limits.MaxEventNameLen,
		MaxSubscriptions:  cfg.Limits.MaxSubscriptions,
		Direct:            direct,
		// One deadline per request on both paths (net/http: ReadTimeout).
		RESTRequestTimeout: cfg.Limits.HTTPRequestTimeout.D(),
		// Subscribe rate and event loops (issue 10).
		MaxSubscribesPerSecond: cfg.Limits.MaxSubscribesPS,
		SubscribeBurst:         cfg.Limits.SubscribeBurst,
		MaxHistoryReplay:       cfg.Limits.HistoryMaxReplay,
		EventLoops:             cfg.EventLoops,
		TLS:                    tlsTerm.serve(),
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.closers = append(s.closers, s.transport.Close)
	if s.metrics, err = s.wireMetrics(); err != nil {
		s.Close()
		return nil, err
	}
	handler, err := s.routes(api)
	if err != nil {
		s.Close()
		return nil, err
	}
	// Hijacked WebSocket connections leave for an event loop (a duplicated
	// descriptor: no deadline follows them); the console's event stream
	// clears its read deadline and moves its write deadline per write.
	reqTimeout := cfg.Limits.HTTPRequestTimeout.D()
	s.http = &http.Server{
		Handler:           wsconn.WithTLSState(handler),
		ConnContext:       wsconn.ConnContext,
		ReadHeaderTimeout: min(10*time.Second, reqTimeout),
		ReadTimeout:       reqTimeout,
		WriteTimeout:      cfg.Limits.HTTPWriteTimeout.D(),
		IdleTimeout:       httpwire.IdleTimeout,
		MaxHeaderBytes:    httpwire.DefaultMaxHead,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.http.RegisterOnShutdown(s.stopConsoleStreams)
	s.ln, err = s.transport.Serve(cfg.Addr())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	tlsTerm.start()
	if err := s.startAdmin(); err != nil {
		s.Close()
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if err := s.startConsole(); err != nil { // only now: a failed start keeps the one-time password unmade
		s.Close()
		return nil, err
	}
	return s, nil
}

// appsFromConfig returns the config file's apps, read-only.
func appsFromConfig(list []apps.App) []*apps.App {
	out := make([]*apps.App, 0, len(list))
	for _, a := range list {
		a.ReadOnly = true
		out = append(out, &a)
	}
	return out
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Apps returns the app registry.
func (s *Server) Apps() *apps.Registry { return s.apps }

func (s *Server) routes(api http.Handler) (http.Handler, error) {
	mux := http.NewServeMux()
	if err := s.wireDemo(mux); err != nil {
		return nil, err
	}
	if err := s.wireConsole(mux); err != nil {
		return nil, err
	}
	mux.Handle("GET /app/{key}", s.transport)
	mux.Handle("/apps/", api)
	mux.Handle("GET "+recoveryjs.Path, recoveryjs.Handler())
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /health", s.health)
	if s.cfg.AdminAddr == "" {
		mux.Handle("GET /metrics", s.metrics)
	}
	mux.HandleFunc("GET /{$}", s.home)
	return reqid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A WebSocket upgrade on any path but /app/{key} is answered with 4005
		// after the upgrade (protocol.md §1.2).
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && !isAppPath(r.URL.Path) {
			s.transport.RejectPath(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})), nil
}

func isAppPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/app/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}

// ready answers readiness probes: 200 when this node can serve (the cluster
// engine is ready and the node is not draining), else 503 with the reason.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if s.transport.Draining() {
		http.Error(w, "not ready: draining for shutdown", http.StatusServiceUnavailable)
		return
	}
	if err := s.hub.Engine().Ready(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"connections":%d}`+"\n", s.transport.ConnectionCount())
}

// Run serves until ctx is cancelled, then shuts down in order: stop accepting,
// close sockets with 4200 over the drain window, stop the loops and engine.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	s.log.Info("listening", "addr", s.ln.Addr().String())
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-s.transport.Stopped():
		// The engine stopped on its own (gnet gives up when accept fails,
		// e.g. out of descriptors): every socket is gone and nothing is
		// accepted any more, so exit with an error for the supervisor to
		// restart the process.
		err := s.transport.StopErr()
		s.Close()
		return fmt.Errorf("the listener stopped: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	// The shutdown deadline covers the drain window plus time for the last
	// close frames and the engine's cleanup, however long the window is.
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Cluster.DrainWindow.D()+5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(sctx)
	s.transport.Shutdown(sctx, s.cfg.Cluster.DrainWindow.D())
	s.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops everything at once; it is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.http != nil {
			_ = s.http.Close()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				s.log.Warn("close", "err", err)
			}
		}
	})
}
