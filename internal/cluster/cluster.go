// Package cluster defines the engine seam between one node's hub and the rest
// of a Pixiu cluster: cross-node pub/sub by interest, cluster-wide presence and
// subscription counts with atomic first/last transitions, cache-channel
// storage and counters. The in-memory engine (cluster/memory) serves a single
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
}

// Handler receives messages for channels this node listens to. It must not
// block on network I/O.
type Handler func(Message)

// Broker carries messages between nodes.
type Broker interface {
	// Publish delivers m to every node listening to m.AppID/m.Channel, this
	// node included (through its Handler), in order per channel. An error
	// means the message may not have reached other nodes.
	Publish(ctx context.Context, m Message) error
	// Listen makes this node receive messages for a channel. The hub calls it
	// when the channel gets its first local subscriber and Unlisten after the
	// last one leaves; engines may batch the underlying subscriptions.
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
}

// Subscriptions are cluster-wide per-channel subscription counts.
type Subscriptions interface {
	// AddSubscriptions changes the channel's subscription count by delta and
	// returns the new cluster-wide count; the transition to 1 (occupied) and
	// to 0 (vacated) is observed by exactly one caller.
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

// Counters are cluster-wide integer counters (connections, daily messages).
type Counters interface {
	// Add adds delta to the counter named key and returns the new value.
	// Counters with a ttl expire that long after their first increment.
	Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// Engine is everything a node needs from the cluster.
type Engine interface {
	Broker
	Presence
	Subscriptions
	Cache
	Counters
	// Ready reports whether the engine can currently serve (e.g. Redis reachable).
	Ready() error
	// Close releases the engine's resources; it is idempotent.
	Close() error
}
