package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// healthTimeout bounds the liveness check: every event loop must run a no-op
// task within it.
const healthTimeout = 3 * time.Second

// startAdmin serves the operator endpoints on their own listener: with
// cfg.AdminAddr, /metrics, /debug/pprof/, /health and /ready (and /metrics
// leaves the public port, see routes); else, with cfg.PprofAddr, pprof alone.
// An address without a host (":9090") listens on loopback.
func (s *Server) startAdmin() error {
	addr, withMetrics := s.cfg.AdminAddr, true
	if addr == "" {
		addr, withMetrics = s.cfg.PprofAddr, false
	}
	if addr == "" {
		return nil
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if withMetrics {
		mux.Handle("GET /metrics", s.metrics)
		mux.HandleFunc("GET /health", s.health)
		mux.HandleFunc("GET /ready", s.ready)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(ln) }()
	s.adminLn = ln
	s.closers = append(s.closers, srv.Close)
	if withMetrics {
		s.log.Info("admin listening: /metrics, /debug/pprof/, /health, /ready", "addr", ln.Addr().String())
	} else {
		s.log.Info("pprof listening", "addr", ln.Addr().String())
	}
	return nil
}

// AdminAddr returns the address of the admin listener (admin_addr or
// pprof_addr), or nil when there is none.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// health answers liveness probes: 200 while the process is alive and its
// event loops and sweeper answer, whatever the cluster engine's state and
// also while draining (readiness is /ready). A liveness probe must not
// restart a node because Redis is down.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.transport.Alive(ctx); err != nil {
		http.Error(w, "not alive: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"ok":true}`)
}
