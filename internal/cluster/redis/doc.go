// Package redis is the cluster engine for many Pixiu nodes sharing one Redis
// (standalone, or a primary with replicas found through Sentinel; Redis
// Cluster is not supported yet). It implements every cluster.Engine
// contract; go-redis types never leave it. Which Redis, and how it is
// reached, is a redisurl.Options (client.go makes the client).
//
// # Pub/sub by interest
//
// Every channel maps to one Redis pub/sub topic. A node SUBSCRIBEs only to
// the topics its own sockets use: Listen/Unlisten are reference-counted here
// and a single flusher goroutine batches the SUBSCRIBE/UNSUBSCRIBE commands.
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
// lease is older than LeaseTTL, the surviving nodes reap the dead node's
// state channel by channel; the script that removes an entry reports the
// transition, so member_removed/channel_vacated are emitted exactly once, by
// one survivor, to clients (Publish) and to that survivor's hub (notices for
// its Observer, hence webhooks).
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
// counter flushes), the subscription flusher, and one receive loop per
// pub/sub connection, which calls the handler in order.
//
// Locking: a channel stripe (read by live calls, written by resync) is taken
// before Engine.mu; subscriber.mu is never held with either. No lock is held
// while the handler runs, and only the stripe is held across a Redis call.
package redis
