package redis

import "strings"

// keys names every Redis key and topic of one cluster (one key prefix).
//
// Every key carries a Redis Cluster hash tag (the part in braces), so that
// each Lua script touches one slot and the same names serve a standalone
// Redis and a Redis Cluster:
//
//   - {app:channel} for everything of one channel (its pub/sub topic, state,
//     cache): one script per transition, and the channel's sharded pub/sub
//     messages stay on the shard that owns the state;
//   - {node:id} for what one node owns (its index of channels, its apps);
//   - {g} for the lease set and the epoch (one slot: the heartbeat is one script);
//   - {idx:app} for an app's index of occupied channels.
//
// The prefix itself holds no brace (New refuses one), so the tag is always the
// first braced part. Channel names never contain ':' (protocol.md §4), so
// "app:channel" is split at its last colon.
type keys struct{ p string }

func (k keys) ch(app, ch string) string { return k.p + "{" + app + ":" + ch + "}:" }

// topic is the pub/sub topic of a channel; bcast reaches every node.
func (k keys) topic(app, ch string) string { return k.ch(app, ch) + "m" }
func (k keys) bcast() string               { return k.p + "{g}:b" }

// Per channel: subs is node → subscriptions, users user → sockets (all
// nodes), info user → user_info, socks(node) socket → user on that node,
// mark the epoch the channel's state was written under (present while the
// channel has state).
func (k keys) subs(app, ch string) string  { return k.ch(app, ch) + "s" }
func (k keys) users(app, ch string) string { return k.ch(app, ch) + "u" }
func (k keys) info(app, ch string) string  { return k.ch(app, ch) + "i" }
func (k keys) mark(app, ch string) string  { return k.ch(app, ch) + "e" }
func (k keys) socks(app, ch, node string) string {
	return k.ch(app, ch) + "k:" + node
}
func (k keys) cache(app, ch string) string { return k.ch(app, ch) + "cache" }

// history is the channel's history stream (history.go).
func (k keys) history(app, ch string) string { return k.ch(app, ch) + "h" }

// chans is app's index of occupied channels: a sorted set (all scores 0, so
// ordered by name for prefix queries), updated after the occupied and
// vacated transitions.
func (k keys) chans(app string) string { return k.p + "{idx:" + app + "}:chans" }

// index is the set of "app:channel" entries in which node owns state.
func (k keys) index(node string) string { return k.p + "{node:" + node + "}:n" }

// nodeApps is the set of apps whose connection counts node reported;
// reapLock is held by the node reaping node.
func (k keys) nodeApps(node string) string { return k.p + "{node:" + node + "}:na" }
func (k keys) reapLock(node string) string { return k.p + "{node:" + node + "}:reap" }

// nodes is the lease set: node → lease expiry (Redis time, ms).
func (k keys) nodes() string { return k.p + "{g}:nodes" }

// epoch changes when Redis loses its data.
func (k keys) epoch() string { return k.p + "{g}:epoch" }

// conns is app → {node: connections}.
func (k keys) conns(app string) string { return k.p + "{conns:" + app + "}" }

// debugWatch is the set of "app\nnode" debug registrations (score: expiry,
// with the leases in {g}); debugTopic carries an app's console debug entries
// between nodes, one (sharded) topic per app under {dbg:app}.
func (k keys) debugWatch() string           { return k.p + "{g}:dw" }
func (k keys) debugTopic(app string) string { return k.debugPrefix() + app + "}:d" }
func (k keys) debugPrefix() string          { return k.p + "{dbg:" }

// debugApp is the app of a debugTopic.
func (k keys) debugApp(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, k.debugPrefix())
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}:d")
}

// hold marks a webhook held by a node (cluster.HoldMarks); its own slot.
func (k keys) hold(key string) string { return k.p + "{hold:" + key + "}" }

func entry(app, ch string) string { return app + ":" + ch }

func splitEntry(e string) (app, ch string, ok bool) {
	i := strings.LastIndexByte(e, ':')
	if i <= 0 || i == len(e)-1 {
		return "", "", false
	}
	return e[:i], e[i+1:], true
}
