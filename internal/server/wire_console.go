package server

import (
	"context"
	"net/http"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// wireStore opens the app store and loads its apps next to the configured ones.
func (s *Server) wireStore() error { return nil }

// wireConsole mounts the web console under /console when enabled.
func (s *Server) wireConsole(mux *http.ServeMux) error { return nil }

// admitPublish returns the REST publish admission check (daily quotas).
func (s *Server) admitPublish() func(ctx context.Context, app *apps.App, messages int) error {
	return nil
}

// onDeliver returns the delivery counter (message counting, protocol.md §8).
func (s *Server) onDeliver() func(appID string, n int) { return nil }
