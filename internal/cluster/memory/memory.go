// Package memory is the single-node cluster engine: all state in this
// process, Publish calls the handler synchronously.
package memory

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

var _ cluster.Engine = (*Engine)(nil)

type chanKey struct{ app, channel string }

type member struct {
	info    []byte
	sockets map[string]struct{}
}

type cacheEntry struct {
	event, data string
	expires     time.Time
}

// Engine is the in-memory engine. It is safe for concurrent use.
type Engine struct {
	handler cluster.Handler
	now     func() time.Time

	mu       sync.Mutex // guards the maps below
	presence map[chanKey]map[string]*member
	subs     map[chanKey]int
	cache    map[chanKey]cacheEntry

	conns sync.Map // app → *atomic.Int64 connections

	hist *history
}

// Options configure an Engine. Zero values mean the documented default.
type Options struct {
	// HistoryMaxBytes bounds the memory of all kept channel history
	// (default DefaultHistoryMaxBytes); past it the least recently published
	// channels' history is dropped.
	HistoryMaxBytes int
}

var errNegative = errors.New("memory: subscription count would go below zero")

// New returns an engine delivering published messages to h, with the
// default Options.
func New(h cluster.Handler) *Engine { return NewWithOptions(Options{}, h) }

// NewWithOptions returns an engine delivering published messages to h.
func NewWithOptions(opts Options, h cluster.Handler) *Engine {
	return &Engine{
		handler:  h,
		now:      time.Now,
		presence: make(map[chanKey]map[string]*member),
		subs:     make(map[chanKey]int),
		cache:    make(map[chanKey]cacheEntry),
		hist:     newHistory(time.Now, opts.HistoryMaxBytes),
	}
}

// Publish delivers m to this node at once; with m.History on, after
// appending it to the channel's history (history.go).
func (e *Engine) Publish(_ context.Context, m cluster.Message) error {
	if m.History.On() && m.Channel != "" && m.Notice == cluster.NoticeNone {
		e.hist.publish(m, e.handler)
		return nil
	}
	e.handler(m)
	return nil
}

// Listen is a no-op: the only node hears everything.
func (e *Engine) Listen(string, string) error { return nil }

// Unlisten is a no-op.
func (e *Engine) Unlisten(string, string) error { return nil }

// AddMember implements cluster.Presence.
func (e *Engine) AddMember(_ context.Context, appID, channel, socketID string, m protocol.Member) (bool, error) {
	k := chanKey{appID, channel}
	e.mu.Lock()
	defer e.mu.Unlock()
	users := e.presence[k]
	if users == nil {
		users = make(map[string]*member)
		e.presence[k] = users
	}
	mb := users[m.UserID]
	first := mb == nil
	if first {
		mb = &member{sockets: make(map[string]struct{}, 1)}
		users[m.UserID] = mb
	}
	mb.info = m.UserInfo
	mb.sockets[socketID] = struct{}{}
	return first, nil
}

// RemoveMember implements cluster.Presence.
func (e *Engine) RemoveMember(_ context.Context, appID, channel, socketID, userID string) (bool, error) {
	k := chanKey{appID, channel}
	e.mu.Lock()
	defer e.mu.Unlock()
	users := e.presence[k]
	mb := users[userID]
	if mb == nil {
		return false, nil
	}
	if _, ok := mb.sockets[socketID]; !ok {
		return false, nil
	}
	delete(mb.sockets, socketID)
	if len(mb.sockets) > 0 {
		return false, nil
	}
	delete(users, userID)
	if len(users) == 0 {
		delete(e.presence, k)
	}
	return true, nil
}

// Members implements cluster.Presence.
func (e *Engine) Members(_ context.Context, appID, channel string) ([]protocol.Member, error) {
	e.mu.Lock()
	users := e.presence[chanKey{appID, channel}]
	out := make([]protocol.Member, 0, len(users))
	for id, mb := range users {
		out = append(out, protocol.Member{UserID: id, UserInfo: mb.info})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// MemberCount implements cluster.Presence.
func (e *Engine) MemberCount(_ context.Context, appID, channel string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.presence[chanKey{appID, channel}]), nil
}

// MemberCounts implements cluster.Presence.
func (e *Engine) MemberCounts(_ context.Context, appID string, channels []string) ([]int, error) {
	out := make([]int, len(channels))
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, ch := range channels {
		out[i] = len(e.presence[chanKey{appID, ch}])
	}
	return out, nil
}

// AddSubscriptions implements cluster.Subscriptions.
func (e *Engine) AddSubscriptions(_ context.Context, appID, channel string, delta int) (int, error) {
	k := chanKey{appID, channel}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.subs[k] + delta
	if n < 0 {
		return e.subs[k], errNegative
	}
	if n == 0 {
		delete(e.subs, k)
		return 0, nil
	}
	e.subs[k] = n
	return n, nil
}

// SubscriptionCount implements cluster.Subscriptions.
func (e *Engine) SubscriptionCount(_ context.Context, appID, channel string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.subs[chanKey{appID, channel}], nil
}

// Channels implements cluster.Subscriptions.
func (e *Engine) Channels(_ context.Context, appID, prefix string) (map[string]int, error) {
	out := make(map[string]int)
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, n := range e.subs {
		if k.app == appID && strings.HasPrefix(k.channel, prefix) {
			out[k.channel] = n
		}
	}
	return out, nil
}

// SetCache implements cluster.Cache.
func (e *Engine) SetCache(_ context.Context, appID, channel string, ev cluster.CachedEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cache[chanKey{appID, channel}] = cacheEntry{event: ev.Event, data: ev.Data, expires: e.now().Add(ev.TTL)}
	return nil
}

// GetCache implements cluster.Cache.
func (e *Engine) GetCache(_ context.Context, appID, channel string) (cluster.CachedEvent, bool, error) {
	k := chanKey{appID, channel}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.cache[k]
	if !ok {
		return cluster.CachedEvent{}, false, nil
	}
	left := c.expires.Sub(e.now())
	if left <= 0 {
		delete(e.cache, k)
		return cluster.CachedEvent{}, false, nil
	}
	return cluster.CachedEvent{Event: c.event, Data: c.data, TTL: left}, true, nil
}

// AddConnections implements cluster.Connections: the only node's count.
// It takes no lock (it runs on every connect).
func (e *Engine) AddConnections(appID string, delta int) int {
	v, ok := e.conns.Load(appID)
	if !ok {
		v, _ = e.conns.LoadOrStore(appID, new(atomic.Int64))
	}
	return int(v.(*atomic.Int64).Add(int64(delta)))
}

// Blocking is false: every call stays in memory.
func (e *Engine) Blocking() bool { return false }

// Ready always succeeds.
func (e *Engine) Ready() error { return nil }

// Close does nothing.
func (e *Engine) Close() error { return nil }
