// Package cluster defines the engine seam between one node's hub and the rest
// of a Pixiu cluster: cross-node pub/sub by interest, cluster-wide presence and
// subscription counts with atomic first/last transitions, cache-channel
// storage and connection counts. The in-memory engine (cluster/memory) serves a single
// node; a Redis engine implements the same contracts for many nodes.
//
// Engines carry only protocol-level values; no engine type leaks out of its
// package.
package cluster

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Message is one event to deliver to a channel's subscribers on every node.
type Message struct {
	AppID   string
	Channel string
	Event   string
	Data    string
	UserID  string // set on presence client events and member events
	// ExcludeSocket is a socket id that must not receive the message.
	ExcludeSocket string
	// Notice, when not zero, makes the message a notice to the hub instead of
	// a channel event: it is never delivered to sockets (see Notice).
	Notice Notice
	// History, when on, makes Publish keep the event in the channel's
	// history and set ID (history.go).
	History HistoryPolicy
	// ID is the event's history id as delivered: set by the engine on
	// messages published with History on, empty otherwise.
	ID string
}

// Notice is what a non-event Message tells the hub.
type Notice uint8

// Notices. A Message published with an empty Channel reaches every node
// (TerminateUser). The lifecycle notices are handed by an engine to its own
// handler only, exactly once cluster-wide, when the engine itself changed
// cluster state on behalf of a node that cannot: it removed a dead node's
// members and subscriptions, or re-registered its own after Redis lost them.
// The engine has already published the matching client events
// (member_added/member_removed); the hub only reports them to its Observer
// so webhooks fire.
const (
	NoticeNone            Notice = iota
	NoticeTerminateUser          // close m.UserID's connections of m.AppID (4009)
	NoticeMemberAdded            // m.UserID joined presence channel m.Channel
	NoticeMemberRemoved          // m.UserID left presence channel m.Channel
	NoticeChannelOccupied        // m.Channel went from 0 to ≥ 1 subscriptions
	NoticeChannelVacated         // m.Channel went to 0 subscriptions
	NoticeUserOnline             // m.UserID signed in on its first connection cluster-wide (watchlists)
	NoticeUserOffline            // m.UserID's last signed-in connection cluster-wide closed
)

// Handler receives messages for channels this node listens to. It must not
// block on network I/O.
type Handler func(Message)

// Broker carries messages between nodes.
type Broker interface {
	// Publish delivers m to every node listening to m.AppID/m.Channel, this
	// node included (through its Handler), in order per channel and exactly
	// once per listening node. A message with an empty Channel reaches every
	// node. An error means the message may not have reached other nodes.
	// With m.History on, the event is appended to the channel's history
	// first and delivered with its id, atomically: ids ascend in delivery
	// order on every node (history.go).
	Publish(ctx context.Context, m Message) error
	// Listen makes this node receive messages for a channel. Listen and
	// Unlisten are reference-counted by the engine: the hub calls Listen for
	// every local subscription before it confirms it to the client, and
	// Unlisten once for each when it ends. When Listen returns nil, every
	// message published afterwards reaches this node's handler. Engines may
	// batch the underlying subscriptions.
	Listen(appID, channel string) error
	Unlisten(appID, channel string) error
}

// Presence is cluster-wide presence membership. A user is one member however
// many sockets (on however many nodes) it has in the channel.
type Presence interface {
	// AddMember records socketID as a connection of m.UserID in the channel.
	// first is true exactly once cluster-wide: when the user had no socket
	// in the channel before.
	AddMember(ctx context.Context, appID, channel, socketID string, m protocol.Member) (first bool, err error)
	// RemoveMember removes socketID; last is true exactly once cluster-wide:
	// when it was the user's last socket in the channel.
	RemoveMember(ctx context.Context, appID, channel, socketID, userID string) (last bool, err error)
	// Members returns the distinct members of the channel, sorted by user id.
	Members(ctx context.Context, appID, channel string) ([]protocol.Member, error)
	// MemberCount returns the number of distinct users.
	MemberCount(ctx context.Context, appID, channel string) (int, error)
	// MemberCounts returns MemberCount of each channel, in order, with one
	// round trip however many channels are asked (watchlist look-ups).
	MemberCounts(ctx context.Context, appID string, channels []string) ([]int, error)
}

// Subscriptions are cluster-wide per-channel subscription counts.
type Subscriptions interface {
	// AddSubscriptions changes the channel's subscription count by delta and
	// returns the new cluster-wide count; the transition to 1 (occupied) and
	// to 0 (vacated) is observed by exactly one caller. A delta that would
	// take this node's own count below zero changes nothing and returns an
	// error, so callers never mistake it for a transition.
	AddSubscriptions(ctx context.Context, appID, channel string, delta int) (count int, err error)
	// SubscriptionCount returns the channel's current count.
	SubscriptionCount(ctx context.Context, appID, channel string) (int, error)
	// Channels returns occupied channels whose names start with prefix and
	// their subscription counts.
	Channels(ctx context.Context, appID, prefix string) (map[string]int, error)
}

// CachedEvent is the last event published on a cache channel.
type CachedEvent struct {
	Event string
	Data  string
	TTL   time.Duration // time left
}

// Cache stores the last event of cache channels (protocol.md §3.13).
type Cache interface {
	SetCache(ctx context.Context, appID, channel string, ev CachedEvent) error
	// GetCache returns the cached event; ok is false on a miss.
	GetCache(ctx context.Context, appID, channel string) (ev CachedEvent, ok bool, err error)
}

// Connections are cluster-wide connection counts per app, kept without a
// round trip per connection: each node counts its own and engines exchange
// the totals in the background (about once a second).
type Connections interface {
	// AddConnections changes this node's connection count of an app by delta
	// and returns the cluster-wide count: this node's exact count plus the
	// other nodes' as last exchanged. It does no I/O.
	AddConnections(appID string, delta int) int
}

// DebugRelay carries the web console's debug entries between the nodes of a
// cluster, only for apps whose debug stream some console watches, so it
// costs nothing while nobody watches. It is optional: engines of many nodes
// implement it (the server type-asserts); the entries are opaque bytes.
type DebugRelay interface {
	// WatchDebug registers a watcher of appID's stream on this node: recv
	// gets, in order, each entry another node sends for appID until stop
	// is called. Interest reaches the other nodes within about two seconds.
	// recv must not block.
	WatchDebug(appID string, recv func(entry []byte)) (stop func())
	// DebugWanted reports whether a console on another node watches appID,
	// as of the last exchange (about once a second). While no console
	// watches anything anywhere it is one atomic load.
	DebugWanted(appID string) bool
	// SendDebug hands an entry for appID to the nodes watching it. It never
	// blocks: past a bounded queue entries are dropped.
	SendDebug(appID string, entry []byte)
}

// Tally keeps each app's usage of the day across the nodes of a cluster
// (message counts, connection peaks), so that daily quotas and the console
// see every node's whatever the app store. Optional, like DebugRelay; none
// of its calls is made on a hot path.
type Tally interface {
	// TallyMessages adds this node's new messages of hour (app → n; may be
	// empty) to the hour's counts and returns the day's figures (the UTC day
	// of hour) of every app in add and in read, and of every app any node
	// counted messages for that day.
	TallyMessages(ctx context.Context, hour time.Time, add map[string]int64, read []string) (map[string]DayTally, error)
	// TallyHours returns app's figures for the n hours that start at since,
	// oldest first (hours without any are zero).
	TallyHours(ctx context.Context, app string, since time.Time, n int) ([]HourTally, error)
	// ConnectionsByNode returns app's connections on each live node (node
	// id → count) as of the last exchange, this node's exact. It does no I/O.
	ConnectionsByNode(app string) map[string]int64
}

// DayTally is an app's usage of one UTC day, all nodes.
type DayTally struct {
	Messages int64
	Peak     int64 // largest number of concurrent connections
}

// HourTally is an app's usage of one hour, all nodes.
type HourTally struct {
	Hour     time.Time
	Messages int64
	Peak     int64
}

// HoldMarks let the nodes of a cluster share the webhook hold of
// channel_vacated/member_removed (protocol.md §7.3): the node holding one
// marks it, a node whose channel_occupied/member_added returns within the
// hold takes the mark (and both send nothing), and the holder finds its mark
// taken. Optional, like DebugRelay; keys are opaque.
type HoldMarks interface {
	// MarkHeld records key for ttl.
	MarkHeld(ctx context.Context, key string, ttl time.Duration) error
	// TakeHeld removes key and reports whether it was there.
	TakeHeld(ctx context.Context, key string) (bool, error)
}

// Engine is everything a node needs from the cluster.
type Engine interface {
	Broker
	Presence
	Subscriptions
	Cache
	Connections
	History
	// HistoryStats returns the engine's history counters.
	HistoryStats() HistoryStats
	// Ready reports whether the engine can currently serve (e.g. Redis reachable).
	Ready() error
	// Blocking reports whether calls may wait on network I/O. Transports
	// then make every call off their event loops; a non-blocking engine's
	// calls return at once and are made in place. The answer never changes.
	Blocking() bool
	// Close releases the engine's resources; it is idempotent.
	Close() error
}
