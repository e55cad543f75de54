package redis

import "strings"

// keys names every Redis key and topic of one cluster (one key prefix).
// Channel names never contain ':' (protocol.md §4), so "app:channel" is
// split at its last colon.
type keys struct{ p string }

// topic is the pub/sub topic of a channel; bcast reaches every node.
func (k keys) topic(app, ch string) string { return k.p + "m:" + app + ":" + ch }
func (k keys) bcast() string               { return k.p + "b" }

// Per channel: subs is node → subscriptions, users user → sockets (all
// nodes), info user → user_info, socks(node) socket → user on that node.
func (k keys) subs(app, ch string) string  { return k.p + "s:" + app + ":" + ch }
func (k keys) users(app, ch string) string { return k.p + "u:" + app + ":" + ch }
func (k keys) info(app, ch string) string  { return k.p + "i:" + app + ":" + ch }
func (k keys) socks(app, ch, node string) string {
	return k.p + "k:" + app + ":" + ch + ":" + node
}
func (k keys) cache(app, ch string) string { return k.p + "cache:" + app + ":" + ch }

// chans is app → {channel: cluster-wide subscriptions} for occupied channels.
func (k keys) chans(app string) string { return k.p + "chans:" + app }

// index is the set of "app:channel" entries in which node owns state.
func (k keys) index(node string) string { return k.p + "n:" + node }

// nodes is the lease set: node → lease expiry (Redis time, ms).
func (k keys) nodes() string { return k.p + "nodes" }

// epoch changes when Redis loses its data.
func (k keys) epoch() string { return k.p + "epoch" }

// conns is app → {node: connections}; nodeApps the apps a node reported.
func (k keys) conns(app string) string     { return k.p + "c:" + app }
func (k keys) nodeApps(node string) string { return k.p + "na:" + node }

func (k keys) reapLock(node string) string { return k.p + "reap:" + node }

func entry(app, ch string) string { return app + ":" + ch }

func splitEntry(e string) (app, ch string, ok bool) {
	i := strings.LastIndexByte(e, ':')
	if i <= 0 || i == len(e)-1 {
		return "", "", false
	}
	return e[:i], e[i+1:], true
}
