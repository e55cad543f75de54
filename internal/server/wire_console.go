package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/console"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/restapi"
	"github.com/pixiu-io/pixiu/internal/store"
	"github.com/pixiu-io/pixiu/internal/usage"
)

// storePollInterval is how often the server looks for app changes made by
// another process (the CLI, another node): one indexed read.
const storePollInterval = 2 * time.Second

// appState is the part of Server wired here: the app store, usage counting,
// the debug tap and the console.
type appState struct {
	store      *store.Store
	usage      *usage.Counter // counts messages (Add) and connections; checks quotas
	tap        *console.Tap   // the debug console's source; hub observer
	console    *console.Console
	configApps []*apps.App // the read-only apps of the config file

	reloadMu     sync.Mutex // serializes reloadApps
	storeVersion int64      // store version the registry reflects; guarded by reloadMu
}

// wireStore opens the app store and loads its apps next to the configured
// ones, and starts usage counting.
func (s *Server) wireStore() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.configApps = s.apps.List()
	st, err := store.Open(ctx, store.Options{Path: s.cfg.Store.Path, DSN: s.cfg.Store.DSN, Reserved: reservedBy(s.configApps),
		Log: s.log})
	if err != nil {
		return err
	}
	s.store = st
	s.closers = append(s.closers, st.Close)
	if s.usage, err = usage.New(ctx, usage.Options{Store: st, Log: s.log}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.usage.Close) // runs before st.Close: the last counts are written
	s.tap = console.NewTap()
	s.observers.Add(hub.ObserverFunc(s.countConnections))
	s.observers.Add(s.tap)
	if err := s.seedDevApp(ctx); err != nil {
		return err
	}
	if err := s.reloadApps(ctx); err != nil {
		return err
	}
	warnPublicSecret(s.log, s.cfg.Host, s.apps.List())
	return nil
}

// reservedBy reports the ids and keys of the config apps, which generated
// credentials must avoid.
func reservedBy(list []*apps.App) func(id, key string) bool {
	ids, keys := map[string]bool{}, map[string]bool{}
	for _, a := range list {
		ids[a.ID], keys[a.Key] = true, true
	}
	return func(id, key string) bool { return ids[id] || keys[key] }
}

func (s *Server) countConnections(e hub.Event) {
	switch e.Kind {
	case hub.Connected:
		s.usage.Connected(e.AppID)
	case hub.Disconnected:
		s.usage.Disconnected(e.AppID)
	}
}

// reloadApps replaces the registry with the config apps plus the store's,
// then makes open connections follow (new settings; 4001 for deleted apps,
// 4003 for disabled ones).
func (s *Server) reloadApps(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	// Read the version first: a change made while listing bumps it again,
	// so the next poll reloads.
	v, err := s.store.Version(ctx)
	if err != nil {
		return err
	}
	stored, err := s.store.Apps(ctx)
	if err != nil {
		return err
	}
	stored = s.retireDevApp(ctx, stored)
	s.apps.Replace(s.mergeApps(stored))
	s.storeVersion = v
	if s.transport != nil {
		s.transport.AppsChanged()
	}
	return nil
}

// mergeApps returns the config apps and the stored apps that do not reuse a
// config app's id or key: the config file wins.
func (s *Server) mergeApps(stored []*apps.App) []*apps.App {
	out := append([]*apps.App(nil), s.configApps...)
	taken := reservedBy(s.configApps)
	for _, a := range stored {
		if taken(a.ID, a.Key) {
			s.log.Warn("stored app ignored: its id or key belongs to an app of the config file", "app_id", a.ID)
			continue
		}
		out = append(out, a)
	}
	return out
}

// watchStore polls the store's version and reloads the apps when another
// process changed them. It runs until Close.
func (s *Server) watchStore() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(storePollInterval)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			err := s.pollStore()
			switch {
			case err != nil && !failing:
				s.log.Warn("app store unreachable: keeping the current apps", "err", err)
			case err == nil && failing:
				s.log.Info("app store reachable again")
			}
			failing = err != nil
		}
	}()
	s.closers = append(s.closers, func() error { close(stop); <-done; return nil })
}

func (s *Server) pollStore() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := s.store.Version(ctx)
	if err != nil {
		return err
	}
	s.reloadMu.Lock()
	same := v == s.storeVersion
	s.reloadMu.Unlock()
	if same {
		return nil
	}
	return s.reloadApps(ctx)
}

// wireConsole mounts the web console under /console when enabled. It also
// starts the store watch: routes runs once the transport exists.
func (s *Server) wireConsole(mux *http.ServeMux) error {
	s.watchStore()
	if s.cfg.Console.Enabled == nil || !*s.cfg.Console.Enabled {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := console.New(ctx, console.Options{
		Store: s.store, Apps: s.apps, Hub: s.hub, Usage: s.usage, Tap: s.tap, Log: s.log,
		AppsChanged: s.reloadApps,
		Admit: func(_ context.Context, app *apps.App, n int) error {
			err := s.usage.Admit(app.ID, app.DailyMessageQuota, int64(n))
			var qe *usage.QuotaError
			if errors.As(err, &qe) {
				s.countOverQuota(app.ID)
			}
			return err
		},
		Password:          s.cfg.Console.Password,
		TrustedProxies:    s.cfg.Console.TrustedProxies,
		MaxEventBytes:     s.cfg.Limits.MaxEventBytes,
		MaxChannelNameLen: s.cfg.Limits.MaxChannelNameLen,
		MaxEventNameLen:   s.cfg.Limits.MaxEventNameLen,
	})
	if err != nil {
		return err
	}
	s.console = c
	s.closers = append(s.closers, func() error { c.Close(); return nil })
	mux.Handle("/console", c)
	mux.Handle("/console/", c)
	return nil
}

// startConsole runs once every listener is bound: on the first start the
// console generates (and logs) its admin password.
func (s *Server) startConsole() error {
	if s.console == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.console.Start(ctx)
}

// stopConsoleStreams ends the console's debug streams when the HTTP server
// shuts down (Shutdown would otherwise wait for them).
func (s *Server) stopConsoleStreams() {
	if s.console != nil {
		s.console.Close()
	}
}

// admitPublish returns the REST publish admission check: the app's daily
// message quota (protocol.md §8: a publish counts 1, with info 2).
func (s *Server) admitPublish() func(ctx context.Context, app *apps.App, messages int) error {
	return func(_ context.Context, app *apps.App, messages int) error {
		err := s.usage.Admit(app.ID, app.DailyMessageQuota, int64(messages))
		var qe *usage.QuotaError
		if errors.As(err, &qe) {
			s.countOverQuota(app.ID)
			return &restapi.Error{Status: http.StatusForbidden, Message: console.OverQuotaMessage(qe.AppID, qe.Used, qe.Quota)}
		}
		return err
	}
}

// onAPIError reports refused REST requests (bad signature, over quota, …)
// to the debug console.
func (s *Server) onAPIError() func(appID string, status int, message string) {
	return s.tap.Error
}

// onDeliver returns the delivery counter (message counting, protocol.md §8):
// each delivery to a socket is a message. It also feeds
// pixiu_deliveries_total.
func (s *Server) onDeliver() func(appID string, n int) {
	return func(appID string, n int) {
		s.deliveries.Add(int64(n))
		s.usage.Add(appID, int64(n))
	}
}
