package server

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// wireWebhooks opens the outbox (the SQLite
// file of the embedded store), starts webhook delivery and adds its
// observer. Close flushes within the sender's deadline, then closes the
// outbox; the transport is closed before (its closer runs first), so the
// vacate events of the last sockets are written out.
func (s *Server) wireWebhooks() error {
	ob, err := webhook.OpenSQLite(s.cfg.Store.Path, s.log)
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
		StillGone:     s.stillGone,

		DeadLetterRetention: w.DeadLetterRetention.D(),
		MaxOutboxEvents:     w.MaxOutboxEvents,
	}
	if m, ok := s.hub.Engine().(cluster.HoldMarks); ok {
		// A leave on one node and a return on another within the hold send
		// neither webhook (webhook/handoff.go).
		opts.Marks = m
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

// stillGone re-checks a held channel_vacated / member_removed against the
// cluster-wide state when its hold ends: in a cluster the channel may have
// been re-occupied, or the user may have come back, on another node.
func (s *Server) stillGone(e hub.Event) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	switch e.Kind {
	case hub.ChannelVacated:
		n, err := s.hub.Engine().SubscriptionCount(ctx, e.AppID, e.Channel)
		return err != nil || n == 0
	case hub.MemberRemoved:
		members, err := s.hub.Members(ctx, e.AppID, e.Channel)
		if err != nil {
			return true
		}
		for _, m := range members {
			if m.UserID == e.UserID {
				return false
			}
		}
	}
	return true
}
