package hub

import (
	"context"
	"errors"
	"slices"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// ErrHistoryOff is returned when a channel has no history.
var ErrHistoryOff = errors.New("hub: history is not on for this channel")

// ErrHistoryGone is cluster.ErrHistoryGone: a query's since is no longer kept.
var ErrHistoryGone = cluster.ErrHistoryGone

// HistoryQuery, HistoryPage and HistoryEvent are the engine's (cluster),
// named here for the transports.
type (
	HistoryQuery = cluster.HistoryQuery
	HistoryPage  = cluster.HistoryPage
	HistoryEvent = cluster.HistoryEvent
)

// historyPolicy returns the channel's history policy (zero: off).
func (h *Hub) historyPolicy(appID, channel string) cluster.HistoryPolicy {
	if h.opts.History == nil {
		return cluster.HistoryPolicy{}
	}
	return h.opts.History(appID, channel)
}

// HistoryOn reports whether the channel keeps history.
func (h *Hub) HistoryOn(appID, channel string) bool { return h.historyPolicy(appID, channel).On() }

// History returns kept events of a channel (cluster.History); ErrHistoryOff
// when its app keeps none for it, cluster.ErrHistoryGone when q.Since is no
// longer kept.
func (h *Hub) History(ctx context.Context, appID, channel string, q cluster.HistoryQuery) (cluster.HistoryPage, error) {
	p := h.historyPolicy(appID, channel)
	if !p.On() {
		return cluster.HistoryPage{}, ErrHistoryOff
	}
	return h.engine.History(ctx, appID, channel, p, q)
}

// Recover sends c the events of channel kept after since, in order, with
// their ids, skipping those that were not delivered to any of the sockets
// in exclude (the client's earlier connections, when they published with
// socket_id), then pixiu:recovered {"since","last_id"}; or, when since is no
// longer kept (or more than limit events follow it),
// pixiu:recovery_failed {"reason","since"}, so the page refetches its
// state. Since "" sends no events, only pixiu:recovered with the newest id
// (a position to recover from later; "" when nothing is kept); "0-0" asks
// for every kept event and fails when some were dropped for count. The caller has checked that c is subscribed to
// channel and limited the request rate. Events published meanwhile reach c
// live too: the recovery script orders and dedupes by id.
func (h *Hub) Recover(ctx context.Context, appID string, c Client, channel, since string, limit int, exclude []string) error {
	p := h.historyPolicy(appID, channel)
	q := cluster.HistoryQuery{Since: since, Limit: limit}
	switch since {
	case "": // the newest id only
		q.Limit = 1
	case "0-0": // every kept event, when none has been dropped for count
		q.Since, q.Limit = "", min(limit, p.MaxEvents)+1
	}
	page, err := h.History(ctx, appID, channel, q)
	fail := ""
	switch {
	case errors.Is(err, ErrHistoryOff):
		fail = "history_off"
	case errors.Is(err, cluster.ErrHistoryGone):
		fail = "gone"
	case err != nil:
		fail = "unavailable"
	case page.More || since == "0-0" && len(page.Events) > limit:
		fail = "too_many"
	case since == "0-0" && len(page.Events) >= p.MaxEvents:
		fail = "gone"
	}
	if fail != "" {
		c.Send(protocol.AppendEvent(nil, protocol.EventRecoveryFailed, channel, recoveryData(fail, since, ""), ""))
		return err
	}
	last := since
	if since == "" {
		if n := len(page.Events); n > 0 {
			last = page.Events[n-1].ID
		}
		page.Events = nil
	}
	var buf []byte
	for _, ev := range page.Events {
		last = ev.ID
		if ev.ExcludeSocket != "" && slices.Contains(exclude, ev.ExcludeSocket) {
			continue
		}
		buf = protocol.AppendEventID(buf[:0], ev.Event, channel, ev.Data, ev.UserID, ev.ID)
		c.Send(buf)
	}
	c.Send(protocol.AppendEvent(nil, protocol.EventRecovered, channel, recoveryData("", since, last), ""))
	return nil
}

// recoveryData is the data of pixiu:recovered ({"since","last_id"}) and
// pixiu:recovery_failed ({"reason","since"}).
func recoveryData(reason, since, last string) string {
	b := []byte{'{'}
	if reason != "" {
		b = append(b, `"reason":`...)
		b = protocol.AppendString(b, reason)
		b = append(b, ',')
	}
	b = append(b, `"since":`...)
	b = protocol.AppendString(b, since)
	if reason == "" {
		b = append(b, `,"last_id":`...)
		b = protocol.AppendString(b, last)
	}
	return string(append(b, '}'))
}
