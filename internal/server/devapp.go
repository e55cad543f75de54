package server

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/store"
)

// The development app (config.DefaultApp) lives in the store like any app:
// visible, editable, rotatable and deletable from the console and the CLI.
// It is stored by a start that finds no app anywhere (config file or store)
// while dev_app is on, and it is removed from the store, and never served,
// as soon as another app exists or dev_app is off, unless its secret was
// rotated (then it is the user's app like any other).

// isDevApp reports whether a is the development app: the well-known id, key
// and secret printed in the README.
func isDevApp(a *apps.App) bool {
	d := config.DefaultApp()
	return a.ID == d.ID && a.Key == d.Key && a.Secret == d.Secret
}

// devAppOn reports whether the development app is allowed (dev_app, default true).
func (s *Server) devAppOn() bool { return s.cfg.DevApp == nil || *s.cfg.DevApp }

// devApp is the development app as stored.
func devApp() *apps.App {
	d := config.DefaultApp()
	return &d
}

// seedDevApp stores the development app when it is allowed and no app
// exists in the config file or the store.
func (s *Server) seedDevApp(ctx context.Context) error {
	if !s.devAppOn() || len(s.configApps) > 0 {
		return nil
	}
	a := devApp()
	seeded, err := s.store.SeedApp(ctx, a)
	if err != nil {
		return err
	}
	if seeded {
		s.log.Info("no apps: stored the development app; it goes away when you create your own app "+
			"(dev_app: false turns it off)", "app_id", a.ID, "key", a.Key, "secret", a.Secret)
	}
	return nil
}

// retireDevApp removes a stored development app that still has its
// well-known secret once another app exists (or dev_app is off), and
// returns stored without it: it is never served then, even if the removal
// fails.
func (s *Server) retireDevApp(ctx context.Context, stored []*apps.App) []*apps.App {
	i := -1
	for j, a := range stored {
		if isDevApp(a) {
			i = j
		}
	}
	if i < 0 || (s.devAppOn() && len(s.configApps)+len(stored) == 1) {
		return stored
	}
	why := "another app exists"
	if !s.devAppOn() {
		why = "dev_app is off"
	}
	id := stored[i].ID
	if err := s.store.DeleteApp(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("development app not removed from the store (it is not served)", "app_id", id, "err", err)
	} else if err == nil {
		s.log.Info("removed the development app: "+why, "app_id", id)
	}
	return append(stored[:i:i], stored[i+1:]...)
}

// warnPublicSecret logs, at every start, each enabled app that still has the
// development app's well-known secret while the server listens beyond
// loopback: anyone who reaches the port can publish and sign auth with it.
func warnPublicSecret(log *slog.Logger, host string, list []*apps.App) {
	if isLoopbackHost(host) {
		return
	}
	for _, a := range list {
		if a.Enabled && a.Secret == config.DefaultApp().Secret {
			log.Warn("app "+a.ID+" has the well-known development secret and this server listens on "+host+
				": anyone who reaches it can publish, sign private/presence auth and send client events as this app; "+
				"create your own app (the development app then goes away), rotate its secret, or set dev_app: false",
				"app_id", a.ID, "host", host)
		}
	}
}

// isLoopbackHost reports whether host (a listen address) is loopback only.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
