package redis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

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
	cs, fresh := e.chanState(appID, channel)
	if cs.sockets == nil {
		cs.sockets = make(map[string]memberInfo, 1)
	}
	cs.sockets[socketID] = memberInfo{user: m.UserID, info: string(m.UserInfo)}
	e.mu.Unlock()
	if err := e.indexed(ctx, appID, channel, fresh); err != nil {
		return false, err
	}
	return e.runFlag(ctx, addMember, e.chanKeys(appID, channel, e.node),
		e.curEpoch(), socketID, m.UserID, string(m.UserInfo))
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
	return e.runFlag(ctx, removeMember, e.chanKeys(appID, channel, e.node), e.curEpoch(), socketID)
}

// chanKeys are the KEYS of every channel script.
func (e *Engine) chanKeys(appID, channel, node string) []string {
	return []string{e.k.mark(appID, channel), e.k.subs(appID, channel), e.k.users(appID, channel),
		e.k.info(appID, channel), e.k.socks(appID, channel, node)}
}

// indexed records in the node's index that it owns state in the channel,
// before the script that writes the state (fresh: the mirror entry is new).
// Entries of channels it no longer owns state in are pruned by the health
// loop (prune), under the channel's stripe.
func (e *Engine) indexed(ctx context.Context, appID, channel string, fresh bool) error {
	if !fresh {
		return nil
	}
	if err := e.usable(); err != nil {
		e.markDirty()
		return err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	if err := e.call(cctx, func() error {
		return e.rdb.SAdd(cctx, e.k.index(e.node), entry(appID, channel)).Err()
	}); err != nil {
		e.markDirty()
		return e.failedCtx(ctx, err)
	}
	return nil
}

// runFlag runs a state-changing script that answers 0 or 1.
func (e *Engine) runFlag(ctx context.Context, s *goredis.Script, keys []string, args ...any) (bool, error) {
	if err := e.usable(); err != nil {
		e.markDirty()
		return false, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := e.runScript(cctx, s, keys, args...).Int()
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
	var h map[string]string
	err := e.call(cctx, func() error {
		var err error
		h, err = e.rdb.HGetAll(cctx, e.k.info(appID, channel)).Result()
		return err
	})
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
	var n int64
	err := e.call(cctx, func() error {
		var err error
		n, err = e.rdb.HLen(cctx, e.k.users(appID, channel)).Result()
		return err
	})
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
	cmds := make([]*goredis.IntCmd, len(channels))
	if err := e.call(cctx, func() error {
		pipe := e.rdb.Pipeline()
		for i, ch := range channels {
			cmds[i] = pipe.HLen(cctx, e.k.users(appID, ch))
		}
		_, err := pipe.Exec(cctx)
		return err
	}); err != nil {
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
	cs, fresh := e.chanState(appID, channel)
	if cs.subs+delta < 0 {
		e.dropIfEmpty(k, cs)
		e.mu.Unlock()
		return 0, errNegative
	}
	cs.subs += delta
	e.dropIfEmpty(k, cs)
	e.mu.Unlock()
	if err := e.indexed(ctx, appID, channel, fresh && delta > 0); err != nil {
		return 0, err
	}
	if err := e.usable(); err != nil {
		e.markDirty()
		return 0, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := e.runScript(cctx, addSubscriptions, e.chanKeys(appID, channel, e.node),
		e.curEpoch(), e.node, delta).Int()
	if err != nil {
		e.markDirty()
		return 0, e.failedCtx(ctx, err)
	}
	before := n - delta
	switch {
	case before <= 0 && n > 0:
		e.listChannel(ctx, appID, channel, true)
	case before > 0 && n <= 0:
		e.listChannel(ctx, appID, channel, false)
	}
	return n, nil
}

// listChannel updates the app's index of occupied channels after an occupied
// (add) or vacated transition. The index lives in its own slot, so it is
// written after the transition: a vacated channel is removed, then its count
// read again, and put back if a subscription arrived meanwhile (that
// subscription's own add may have come first). A failed write marks the node
// dirty: the resync lists every channel this node holds subscriptions in.
func (e *Engine) listChannel(ctx context.Context, appID, channel string, add bool) {
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	key := e.k.chans(appID)
	err := e.call(cctx, func() error {
		if add {
			return e.rdb.ZAdd(cctx, key, goredis.Z{Member: channel}).Err()
		}
		return e.rdb.ZRem(cctx, key, channel).Err()
	})
	if err == nil && !add {
		var n int
		if n, err = e.count(cctx, appID, channel); err == nil && n > 0 {
			err = e.call(cctx, func() error { return e.rdb.ZAdd(cctx, key, goredis.Z{Member: channel}).Err() })
		}
	}
	if err != nil {
		e.log.Warn("update the channel index", "app_id", appID, "channel", channel, "err", err)
		e.markDirty()
		_ = e.failedCtx(ctx, err)
	}
}

// count sums a channel's subscriptions over the nodes.
func (e *Engine) count(ctx context.Context, appID, channel string) (int, error) {
	var vals []string
	err := e.call(ctx, func() error {
		var err error
		vals, err = e.rdb.HVals(ctx, e.k.subs(appID, channel)).Result()
		return err
	})
	if err != nil {
		return 0, err
	}
	return sumCounts(vals), nil
}

func sumCounts(vals []string) int {
	n := 0
	for _, v := range vals {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

// SubscriptionCount implements cluster.Subscriptions.
func (e *Engine) SubscriptionCount(ctx context.Context, appID, channel string) (int, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	n, err := e.count(cctx, appID, channel)
	if err != nil {
		return 0, e.failedCtx(ctx, err)
	}
	return n, nil
}

// Channels implements cluster.Subscriptions: the names come from the app's
// index (a prefix is a range of the sorted set), the counts from each
// channel's own slot in pipelines; a listed channel that turns out empty (the
// index is written after the transitions) is left out.
func (e *Engine) Channels(ctx context.Context, appID, prefix string) (map[string]int, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	lo, hi := "-", "+"
	if prefix != "" {
		lo, hi = "["+prefix, "("+prefix+"\xff"
	}
	var names []string
	err := e.call(cctx, func() error {
		var err error
		names, err = e.rdb.ZRangeByLex(cctx, e.k.chans(appID), &goredis.ZRangeBy{Min: lo, Max: hi}).Result()
		return err
	})
	if err != nil {
		return nil, e.failedCtx(ctx, err)
	}
	out := make(map[string]int, len(names))
	const batch = 512
	for len(names) > 0 {
		part := names[:min(batch, len(names))]
		names = names[len(part):]
		cmds := make([]*goredis.StringSliceCmd, len(part))
		err := e.call(cctx, func() error {
			pipe := e.rdb.Pipeline()
			for i, ch := range part {
				cmds[i] = pipe.HVals(cctx, e.k.subs(appID, ch))
			}
			_, err := pipe.Exec(cctx)
			return err
		})
		if err != nil {
			return nil, e.failedCtx(ctx, err)
		}
		for i, c := range cmds {
			if n := sumCounts(c.Val()); n > 0 {
				out[part[i]] = n
			}
		}
	}
	return out, nil
}

// chanState returns the mirror entry, creating it (fresh); e.mu must be held.
func (e *Engine) chanState(appID, channel string) (cs *chanState, fresh bool) {
	k := chanKey{appID, channel}
	cs = e.mirror[k]
	if cs == nil {
		cs = &chanState{}
		e.mirror[k] = cs
		fresh = true
	}
	return cs, fresh
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
	if err := e.call(cctx, func() error {
		return e.rdb.Set(cctx, e.k.cache(appID, channel), encodeCache(ev.Event, ev.Data), ev.TTL).Err()
	}); err != nil {
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
	var get *goredis.StringCmd
	var ttl *goredis.DurationCmd
	if err := e.call(cctx, func() error {
		pipe := e.rdb.Pipeline()
		get = pipe.Get(cctx, key)
		ttl = pipe.PTTL(cctx, key)
		_, err := pipe.Exec(cctx)
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		return err
	}); err != nil {
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
// live nodes' (live: as of the last heartbeat) in one pipeline.
func (e *Engine) exchangeConns(ctx context.Context, live []string) error {
	type row struct {
		app  string
		c    *connCount
		sent int64
		all  *goredis.MapStringStringCmd
	}
	var rows []row
	var apps []any
	pipe := e.rdb.Pipeline()
	e.conns.Range(func(k, v any) bool {
		app, c := k.(string), v.(*connCount)
		n := max(0, c.local.Load())
		if n > 0 {
			pipe.HSet(ctx, e.k.conns(app), e.node, n)
			apps = append(apps, app)
		} else {
			pipe.HDel(ctx, e.k.conns(app), e.node)
		}
		rows = append(rows, row{app: app, c: c, sent: n, all: pipe.HGetAll(ctx, e.k.conns(app))})
		return true
	})
	if len(rows) == 0 {
		return nil
	}
	if len(apps) > 0 {
		pipe.SAdd(ctx, e.k.nodeApps(e.node), apps...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("exchange connection counts: %w", err)
	}
	alive := make(map[string]bool, len(live)+1)
	for _, n := range live {
		alive[n] = true
	}
	alive[e.node] = true
	totals := make(map[*connCount]tallyRow, len(rows))
	for _, r := range rows {
		var total int64
		byNode := map[string]int64{}
		for node, v := range r.all.Val() {
			if alive[node] {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
				byNode[node] = n
			}
		}
		r.c.remote.Store(max(0, total-r.sent))
		r.c.byNode.Store(&byNode)
		totals[r.c] = tallyRow{r.app, total}
	}
	return e.tallyPeaks(ctx, time.Now(), totals)
}
