package server

import (
	"fmt"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// wireWebhooks checks the configured endpoints, opens the outbox (the SQLite
// file of the embedded store), starts webhook delivery and adds its
// observer. Close flushes within the sender's deadline, then closes the
// outbox; the transport is closed before (its closer runs first), so the
// vacate events of the last sockets are written out.
func (s *Server) wireWebhooks() error {
	for i, a := range s.cfg.Apps {
		for j, w := range webhooksFromConfig(a.Webhooks) {
			if err := webhook.CheckEndpoint(w); err != nil {
				return &config.ValidationError{Field: fmt.Sprintf("apps[%d].webhooks[%d]", i, j), Err: err}
			}
		}
	}
	ob, err := webhook.OpenSQLite(s.cfg.Store.Path)
	if err != nil {
		return err
	}
	w := s.cfg.Webhooks
	opts := webhook.Options{
		Apps:          s.apps,
		Outbox:        ob,
		Timeout:       w.Timeout.D(),
		RetryHorizon:  w.RetryHorizon.D(),
		BatchInterval: w.BatchInterval.D(),
		BatchMax:      w.BatchMax,
		VacateDelay:   w.VacateDelay.D(),
	}
	if count := s.onDeliver(); count != nil {
		// A webhook request counts as one message (protocol.md §8).
		opts.OnSent = func(appID string) { count(appID, 1) }
	}
	snd, err := webhook.New(opts, s.log.With("component", "webhook"))
	if err != nil {
		ob.Close()
		return err
	}
	s.webhooks = snd
	s.observers.Add(snd)
	s.closers = append(s.closers, func() error {
		snd.Close()
		return ob.Close()
	})
	return nil
}

// Webhooks returns the webhook sender (stats, dead letters, replay).
func (s *Server) Webhooks() *webhook.Sender { return s.webhooks }
