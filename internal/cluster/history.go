package cluster

import (
	"context"
	"errors"
	"time"
)

// HistoryPolicy is how much of a channel's recent events an engine keeps
// (issue 15). The zero value keeps nothing: the channel has no history.
type HistoryPolicy struct {
	MaxEvents int           // keep at most this many events; > 0 turns history on
	MaxAge    time.Duration // and none older than this; must be > 0 when MaxEvents is
}

// On reports whether the policy keeps events.
func (p HistoryPolicy) On() bool { return p.MaxEvents > 0 && p.MaxAge > 0 }

// HistoryEvent is one kept event.
type HistoryEvent struct {
	ID     string // "<unix ms>-<seq>", ascending in publish order per channel
	Event  string
	Data   string
	UserID string
	// ExcludeSocket is the socket the event was not delivered to (the
	// publisher's own, given as socket_id): a recovering client that was
	// that socket does not get it back either.
	ExcludeSocket string
}

// HistoryQuery selects kept events of one channel.
type HistoryQuery struct {
	// Since, when set, asks for the events after this id (exclusive); it
	// must be the id of an event still kept, else ErrHistoryGone. Empty asks
	// for the newest Limit events.
	Since string
	Limit int // at most this many events (> 0)
}

// HistoryPage is the answer to a HistoryQuery.
type HistoryPage struct {
	Events []HistoryEvent // oldest first
	// More is true when Since was given and more than Limit events follow it.
	More bool
}

// ErrHistoryGone is returned when a query's Since is not (or no longer) the
// id of a kept event: events after it may have been dropped, so a client
// cannot recover from it and must refetch its state.
var ErrHistoryGone = errors.New("cluster: since is not in the channel's history")

// History reads kept events. Events are kept by Broker.Publish: a message
// whose History policy is on is appended to its channel's history and given
// its id (Message.ID) in the same step as its publication, so every node
// delivers it with that id and ids ascend in delivery order.
type History interface {
	// History returns the kept events of a channel selected by q, under
	// policy p (events older than p.MaxAge are not returned).
	History(ctx context.Context, appID, channel string, p HistoryPolicy, q HistoryQuery) (HistoryPage, error)
}

// HistoryStats are an engine's history counters (metrics).
type HistoryStats struct {
	Appended uint64 // events appended since start (this node's publishes)
	Dropped  uint64 // events dropped before their policy's limits to respect the engine's memory bound
	Events   int64  // events kept now (-1: not known to this node, e.g. kept in Redis)
	Bytes    int64  // bytes they take (-1: not known)
	Channels int64  // channels with kept events (-1: not known)
}
