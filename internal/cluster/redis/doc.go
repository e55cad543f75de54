// Package redis is the cluster engine for many Pixiu nodes sharing one Redis
// (standalone, or a primary with replicas found through Sentinel) or one
// Redis Cluster. It implements every cluster.Engine contract; go-redis types
// never leave it. Which Redis, and how it is reached, is a redisurl.Options
// (client.go makes the client).
//
// # Keys and slots
//
// Every key carries a hash tag (keys.go): all keys and the topic of one
// channel share the tag {app:channel}, so each Lua script touches one slot of
// a Redis Cluster and a channel's messages and state live on one shard. Data
// that spans channels is kept where no script needs it atomically with a
// channel: a node's index of its channels ({node:id}, written before the
// state, pruned by the health loop), an app's index of occupied channels
// ({idx:app}, written after the occupied/vacated transitions, read by
// Channels), connection counts per app and the day's usage ({conns:app}:u:…
// and {usage}:…, tally.go), the console's debug topic and interest
// ({dbg:app}, {g}:dw) and held webhooks ({hold:…}). The same keys serve a standalone
// Redis, so there is one code path; only the pub/sub commands differ.
//
// # Pub/sub by interest
//
// Every channel maps to one Redis pub/sub topic. A node subscribes only to
// the topics its own sockets use: Listen/Unlisten are reference-counted here
// and a single flusher goroutine sends the subscription changes: SUBSCRIBE
// (many topics per command) on one server; on a Redis Cluster, SSUBSCRIBE on
// a connection to the primary that owns the topic's slot (one connection per
// shard in use), and SPUBLISH, so each message reaches only that shard. When
// a slot moves (resharding, failover) Redis pushes an unsubscription for its
// sharded channels and the node subscribes again where the slot now is; a
// redirected SSUBSCRIBE is sent again after the slot map is reloaded; other
// redirected commands (MOVED, ASK, TRYAGAIN: they did not run) are retried
// by the engine, never by go-redis (which would also retry commands that may
// have run).
// Listen returns once Redis has confirmed the subscription, so a message
// published after a client saw subscription_succeeded always reaches it.
// Every delivery, this node's own included, comes back through Redis: all
// nodes see one order per channel, and each message once.
//
// # Cluster state
//
// Presence members and subscription counts are kept per node (who owns which
// socket and how many subscriptions) and changed by Lua scripts, so that the
// first/last transitions (member_added/member_removed, occupied/vacated) are
// observed exactly once cluster-wide. Each node also keeps a mirror of the
// state it owns; that mirror is the truth Redis is re-aligned to after an
// outage (see resync).
//
// # Leases
//
// Each node renews a lease (a score in a sorted set) every Interval. When a
// lease is older than LeaseTTL, a surviving node takes the dead node's reap
// lock, checks the lease is still expired and reaps its state channel by
// channel (one script per channel, in that channel's slot); the script that
// removes an entry reports the transition, so member_removed/channel_vacated
// are emitted exactly once, by one survivor, to clients (Publish) and to
// that survivor's hub (notices for its Observer, hence webhooks). A node
// whose lease had lapsed writes its state back only once no reap lock on it
// is held.
//
// # Failure
//
// A node whose Redis calls fail stops calling Redis (operations fail fast
// with ErrUnavailable, so event loops never wait on a dead server) and its
// Ready reports the error. A background loop probes Redis every Interval;
// when it answers, the node re-subscribes to every topic, re-aligns its state
// with its mirror (emitting the transitions that were missed, e.g. the
// member_removed of a socket that closed during the outage) and becomes
// ready again. If Redis lost its data (the epoch key changed), the node
// re-registers its state without emitting events clients never lost.
// Under Sentinel a failover is such an outage: every new connection goes to
// the primary the Sentinels name, a demoted primary's READONLY counts as
// unreachable, and Publish is refused until the node has re-registered (a
// few Intervals after Redis answers, when the other nodes have resubscribed
// too), so a publish accepted after a failover reaches every node.
//
// Goroutines: the health loop (heartbeat, reaping, resync, pub/sub health,
// counter flushes, index pruning), the subscription flusher, and one receive
// loop per pub/sub connection, which calls the handler in order (a channel's
// messages all arrive on one connection).
//
// Locking: a channel stripe (read by live calls, written by resync) is taken
// before Engine.mu; subscriber.mu is never held with either. No lock is held
// while the handler runs, and only the stripe is held across a Redis call.
package redis
