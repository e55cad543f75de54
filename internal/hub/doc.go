// Package hub owns one node's realtime state: which local clients are
// subscribed to which channels (sharded by app and channel), signed-in users
// and watchlists, and the encode-once fan-out of published events to local
// clients. Cluster-wide facts (presence members, subscription counts, the
// cache of cache channels, cross-node delivery) go through a cluster.Engine.
//
// The hub knows nothing about HTTP or WebSockets: it talks to connections
// through the Client interface, whose Send must never block. Lifecycle events
// (occupied/vacated, member added/removed, client events, cache misses, …)
// flow one way, out through an Observer.
//
// Locking: each shard has its own RWMutex guarding its channel map; fan-out
// holds a shard's read lock while it enqueues (never blocks). No engine call,
// network I/O or observer call happens under a shard lock. See docs/LOCKING.md.
package hub
