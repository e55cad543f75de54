package redis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Every state-changing call first records the change in the mirror (what
// the hub asked for), then runs its script under the channel's stripe read
// lock. A failed script marks the engine dirty: the health loop re-aligns
// Redis with the mirror once Redis answers, emitting the transitions the
// failed calls could not report.

var errNegative = errors.New("redis: subscription count would go below zero")

// AddMember implements cluster.Presence.
func (e *Engine) AddMember(ctx context.Context, appID, channel, socketID string, m protocol.Member) (bool, error) {
	st := e.stripe(appID, channel)
	st.RLock()
	defer st.RUnlock()
	e.mu.Lock()
	cs := e.chanState(appID, channel)
	if cs.sockets == nil {
		cs.sockets = make(map[string]memberInfo, 1)
	}
	cs.sockets[socketID] = memberInfo{user: m.UserID, info: string(m.UserInfo)}
	e.mu.Unlock()
	return e.runFlag(ctx, addMember,
		[]string{e.k.epoch(), e.k.socks(appID, channel, e.node), e.k.users(appID, channel),
			e.k.info(appID, channel), e.k.index(e.node)},
		e.curEpoch(), socketID, m.UserID, string(m.UserInfo), entry(appID, channel))
}

// RemoveMember implements cluster.Presence.
func (e *Engine) RemoveMember(ctx context.Context, appID, channel, socketID, userID string) (bool, error) {
	st := e.stripe(appID, channel)
	st.RLock()
	defer st.RUnlock()
	e.mu.Lock()
	if cs := e.mirror[chanKey{appID, channel}]; cs != nil {
		delete(cs.sockets, socketID)
		e.dropIfEmpty(chanKey{appID, channel}, cs)
	}
	e.mu.Unlock()
	return e.runFlag(ctx, removeMember,
		[]string{e.k.epoch(), e.k.socks(appID, channel, e.node), e.k.users(appID, channel),
			e.k.info(appID, channel), e.k.index(e.node), e.k.subs(appID, channel)},
		e.curEpoch(), socketID, entry(appID, channel), e.node)
}

// runFlag runs a state-changing script that answers 0 or 1.
func (e *Engine) runFlag(ctx context.Context, s *goredis.Script, keys []string, args ...any) (bool, error) {
	if err := e.usable(); err != nil {
		e.markDirty()
		return false, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := s.Run(cctx, e.rdb, keys, args...).Int()
	if err != nil {
		e.markDirty()
		return false, e.failedCtx(ctx, err)
	}
	return n == 1, nil
}

// Members implements cluster.Presence.
func (e *Engine) Members(ctx context.Context, appID, channel string) ([]protocol.Member, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	h, err := e.rdb.HGetAll(cctx, e.k.info(appID, channel)).Result()
	if err != nil {
		return nil, e.failedCtx(ctx, err)
	}
	out := make([]protocol.Member, 0, len(h))
	for id, info := range h {
		m := protocol.Member{UserID: id}
		if info != "" {
			m.UserInfo = []byte(info)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// MemberCount implements cluster.Presence.
func (e *Engine) MemberCount(ctx context.Context, appID, channel string) (int, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := e.rdb.HLen(cctx, e.k.users(appID, channel)).Result()
	if err != nil {
		return 0, e.failedCtx(ctx, err)
	}
	return int(n), nil
}

// MemberCounts implements cluster.Presence: one pipeline of HLEN.
func (e *Engine) MemberCounts(ctx context.Context, appID string, channels []string) ([]int, error) {
	out := make([]int, len(channels))
	if len(channels) == 0 {
		return out, nil
	}
	if err := e.usable(); err != nil {
		return nil, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	pipe := e.rdb.Pipeline()
	cmds := make([]*goredis.IntCmd, len(channels))
	for i, ch := range channels {
		cmds[i] = pipe.HLen(cctx, e.k.users(appID, ch))
	}
	if _, err := pipe.Exec(cctx); err != nil {
		return nil, e.failedCtx(ctx, err)
	}
	for i, c := range cmds {
		out[i] = int(c.Val())
	}
	return out, nil
}

// AddSubscriptions implements cluster.Subscriptions.
func (e *Engine) AddSubscriptions(ctx context.Context, appID, channel string, delta int) (int, error) {
	st := e.stripe(appID, channel)
	st.RLock()
	defer st.RUnlock()
	k := chanKey{appID, channel}
	e.mu.Lock()
	cs := e.chanState(appID, channel)
	if cs.subs+delta < 0 {
		e.dropIfEmpty(k, cs)
		e.mu.Unlock()
		return 0, errNegative
	}
	cs.subs += delta
	e.dropIfEmpty(k, cs)
	e.mu.Unlock()
	if err := e.usable(); err != nil {
		e.markDirty()
		return 0, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := addSubscriptions.Run(cctx, e.rdb,
		[]string{e.k.epoch(), e.k.subs(appID, channel), e.k.chans(appID), e.k.index(e.node),
			e.k.socks(appID, channel, e.node)},
		e.curEpoch(), e.node, delta, channel, entry(appID, channel)).Int()
	if err != nil {
		e.markDirty()
		return 0, e.failedCtx(ctx, err)
	}
	return n, nil
}

// SubscriptionCount implements cluster.Subscriptions.
func (e *Engine) SubscriptionCount(ctx context.Context, appID, channel string) (int, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := e.rdb.HGet(cctx, e.k.chans(appID), channel).Int()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, e.failedCtx(ctx, err)
	}
	return n, nil
}

// Channels implements cluster.Subscriptions.
func (e *Engine) Channels(ctx context.Context, appID, prefix string) (map[string]int, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	h, err := e.rdb.HGetAll(cctx, e.k.chans(appID)).Result()
	if err != nil {
		return nil, e.failedCtx(ctx, err)
	}
	out := make(map[string]int, len(h))
	for ch, v := range h {
		n, _ := strconv.Atoi(v)
		if n > 0 && strings.HasPrefix(ch, prefix) {
			out[ch] = n
		}
	}
	return out, nil
}

// chanState returns the mirror entry, creating it; e.mu must be held.
func (e *Engine) chanState(appID, channel string) *chanState {
	k := chanKey{appID, channel}
	cs := e.mirror[k]
	if cs == nil {
		cs = &chanState{}
		e.mirror[k] = cs
	}
	return cs
}

// dropIfEmpty forgets an entry that holds nothing; e.mu must be held.
func (e *Engine) dropIfEmpty(k chanKey, cs *chanState) {
	if cs.subs == 0 && len(cs.sockets) == 0 {
		delete(e.mirror, k)
	}
}

// SetCache implements cluster.Cache.
func (e *Engine) SetCache(ctx context.Context, appID, channel string, ev cluster.CachedEvent) error {
	if err := e.usable(); err != nil {
		return err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	if err := e.rdb.Set(cctx, e.k.cache(appID, channel), encodeCache(ev.Event, ev.Data), ev.TTL).Err(); err != nil {
		return e.failedCtx(ctx, err)
	}
	return nil
}

// GetCache implements cluster.Cache with one round trip (GET and PTTL).
func (e *Engine) GetCache(ctx context.Context, appID, channel string) (cluster.CachedEvent, bool, error) {
	if err := e.usable(); err != nil {
		return cluster.CachedEvent{}, false, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	key := e.k.cache(appID, channel)
	pipe := e.rdb.Pipeline()
	get := pipe.Get(cctx, key)
	ttl := pipe.PTTL(cctx, key)
	if _, err := pipe.Exec(cctx); err != nil && !errors.Is(err, goredis.Nil) {
		return cluster.CachedEvent{}, false, e.failedCtx(ctx, err)
	}
	v, err := get.Result()
	if errors.Is(err, goredis.Nil) {
		return cluster.CachedEvent{}, false, nil
	}
	if err != nil {
		return cluster.CachedEvent{}, false, e.failedCtx(ctx, err)
	}
	event, data, err := decodeCache(v)
	if err != nil {
		return cluster.CachedEvent{}, false, err
	}
	left := ttl.Val()
	if left <= 0 {
		return cluster.CachedEvent{}, false, nil
	}
	return cluster.CachedEvent{Event: event, Data: data, TTL: left}, true, nil
}

// AddConnections implements cluster.Connections. It takes no lock (it runs
// on every connect).
func (e *Engine) AddConnections(appID string, delta int) int {
	c := e.connCount(appID)
	return int(c.local.Add(int64(delta)) + c.remote.Load())
}

func (e *Engine) connCount(appID string) *connCount {
	v, ok := e.conns.Load(appID)
	if !ok {
		v, _ = e.conns.LoadOrStore(appID, new(connCount))
	}
	return v.(*connCount)
}

// exchangeConns publishes this node's connection counts and learns the other
// live nodes' in one script.
func (e *Engine) exchangeConns(ctx context.Context) error {
	keys := []string{e.k.nodes(), e.k.nodeApps(e.node)}
	args := []any{e.node}
	var counts []*connCount
	var sent []int64
	e.conns.Range(func(k, v any) bool {
		c := v.(*connCount)
		n := max(0, c.local.Load())
		keys = append(keys, e.k.conns(k.(string)))
		args = append(args, k.(string), n)
		counts = append(counts, c)
		sent = append(sent, n)
		return true
	})
	if len(counts) == 0 {
		return nil
	}
	totals, err := syncConns.Run(ctx, e.rdb, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("exchange connection counts: %w", err)
	}
	for i, c := range counts {
		if i < len(totals) {
			c.remote.Store(max(0, totals[i]-sent[i]))
		}
	}
	return nil
}
