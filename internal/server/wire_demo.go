package server

import "net/http"

// wireDemo mounts the exchange demo under /demo when enabled.
func (s *Server) wireDemo(mux *http.ServeMux) error { return nil }
