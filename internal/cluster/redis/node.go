package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// run is the health loop: every Interval it renews the lease (which doubles
// as the probe of a down Redis), keeps the pub/sub connection alive,
// re-aligns this node's state when needed, reaps dead nodes and exchanges
// counters. It owns every transition of cmdUp to true.
func (e *Engine) run() {
	defer e.wg.Done()
	stopped, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-e.stop; cancel() }()
	e.tick(stopped)
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.tick(stopped)
		}
	}
}

func (e *Engine) tick(stopped context.Context) {
	ctx, cancel := context.WithTimeout(stopped, e.opts.LeaseTTL/2)
	defer cancel()
	hb, err := e.heartbeat(ctx)
	if err != nil {
		if stopped.Err() == nil { // not closing
			e.counters.connErrors.Add(1)
			e.setDown(err)
		}
		return
	}
	if !e.cmdUp.Load() {
		e.log.Info("redis reachable")
		if e.wasUp {
			e.counters.reconnects.Add(1)
		}
		e.wasUp = true
		e.cmdUp.Store(true)
		e.markDirty()
		e.upSince = time.Now()
	}
	// The pub/sub check has a budget of its own: a slow heartbeat must not
	// leave its pings no time to be written (go-redis drops a pub/sub
	// connection whose write timed out, and the node turns unready).
	sctx, scancel := context.WithTimeout(stopped, e.opts.OpTimeout)
	e.sub.check(sctx)
	scancel()
	// After an outage the other nodes reconnect too, within about one
	// Interval: this node announces what changed only once they can hear it,
	// and reaps nobody before they had a full lease to renew theirs (an
	// outage longer than LeaseTTL expires every lease).
	settled := !e.started || time.Since(e.upSince) >= 3*e.opts.Interval
	mayReap := time.Since(e.upSince) >= e.opts.LeaseTTL

	if old := e.curEpoch(); old != hb.epoch {
		if old != "" {
			e.log.Warn("redis lost its data: re-registering this node's state")
			e.lost = true
		}
		e.epoch.Store(&hb.epoch)
		e.markDirty()
	}
	if hb.late {
		// Our lease had lapsed: survivors may have reaped us. Resync emits
		// member_added/occupied for whatever they removed.
		e.markDirty()
	}
	if !e.synced.Load() {
		if !settled {
			return
		}
		if n, err := e.rdb.Exists(ctx, e.k.reapLock(e.node)).Result(); err != nil || n > 0 {
			// A survivor is reaping this node (its lease lapsed): write the
			// state back once it is done, or the reaper would remove it.
			return
		}
		if err := e.resync(ctx, e.lost); err != nil {
			e.log.Warn("re-register state", "err", err)
			return
		}
		e.started, e.lost = true, false
	}
	for _, dead := range hb.dead {
		if !mayReap {
			break
		}
		if err := e.reap(ctx, dead); err != nil {
			e.log.Warn("reap dead node", "dead_node", dead, "err", err)
		}
	}
	if err := e.exchangeConns(ctx, hb.live); err != nil {
		_ = e.failedCtx(ctx, err)
		return
	}
	if err := e.debug.exchange(ctx); err != nil {
		_ = e.failedCtx(ctx, err)
	}
	e.prune(ctx)
}

type beat struct {
	epoch      string
	late       bool
	dead, live []string
}

func (e *Engine) heartbeat(ctx context.Context) (beat, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	res, err := heartbeat.Run(ctx, e.rdb, []string{e.k.nodes(), e.k.epoch()},
		e.node, e.opts.LeaseTTL.Milliseconds(), hex.EncodeToString(b[:])).Slice()
	if err != nil {
		return beat{}, fmt.Errorf("renew lease: %w", err)
	}
	if len(res) != 4 {
		return beat{}, errors.New("renew lease: unexpected reply")
	}
	var hb beat
	hb.epoch, _ = res[0].(string)
	late, _ := res[1].(int64)
	hb.late = late == 1
	for _, s := range toStrings(res[2]) {
		if s != e.node {
			hb.dead = append(hb.dead, s)
		}
	}
	hb.live = toStrings(res[3])
	return hb, nil
}

// resync re-aligns every channel in which this node owns state (in Redis or
// in its mirror) with the mirror. When Redis lost its data (lost), the
// additions are not announced: clients never saw those members leave.
func (e *Engine) resync(ctx context.Context, lost bool) error {
	e.mu.Lock()
	e.dirty = false
	set := make(map[chanKey]struct{}, len(e.mirror))
	for k := range e.mirror {
		set[k] = struct{}{}
	}
	e.mu.Unlock()
	entries, err := e.rdb.SMembers(ctx, e.k.index(e.node)).Result()
	if err != nil {
		e.markDirty()
		return e.failedCtx(ctx, err)
	}
	for _, en := range entries {
		if app, ch, ok := splitEntry(en); ok {
			set[chanKey{app, ch}] = struct{}{}
		}
	}
	for k := range set {
		if err := e.syncOne(ctx, k, lost); err != nil {
			e.markDirty()
			return err
		}
	}
	e.mu.Lock()
	clean := !e.dirty
	e.mu.Unlock()
	if clean {
		e.synced.Store(true)
		e.log.Info("node state registered", "channels", len(set))
	}
	return nil
}

// syncOne writes this node's mirror of one channel, holding the channel's
// stripe so that no live call on it interleaves, then announces what changed.
func (e *Engine) syncOne(ctx context.Context, k chanKey, lost bool) error {
	tr, infos, err := e.syncLocked(ctx, k)
	if err != nil {
		return err
	}
	if lost {
		// Clients never saw these members leave nor the channel empty: none
		// is announced, but the channel listing Redis lost is written again.
		if tr.occupied {
			e.listChannel(ctx, k.app, k.ch, true)
		}
		tr.added, tr.occupied = nil, false
	}
	e.emit(ctx, k, tr, infos)
	return nil
}

func (e *Engine) syncLocked(ctx context.Context, k chanKey) (transitions, map[string]string, error) {
	st := e.stripe(k.app, k.ch)
	st.Lock()
	defer st.Unlock()
	e.mu.Lock()
	subs := 0
	var sockets []any
	infos := make(map[string]string)
	if cs := e.mirror[k]; cs != nil {
		subs = cs.subs
		for s, m := range cs.sockets {
			sockets = append(sockets, s, m.user, m.info)
			infos[m.user] = m.info
		}
	}
	e.mu.Unlock()
	if subs > 0 || len(sockets) > 0 {
		if err := e.rdb.SAdd(ctx, e.k.index(e.node), entry(k.app, k.ch)).Err(); err != nil {
			return transitions{}, nil, e.failedCtx(ctx, err)
		}
	}
	tr, err := e.runSync(ctx, e.node, "sync", k, subs, sockets)
	if err == nil && subs > 0 && !tr.occupied {
		// The index is written after transitions: make sure it lists the
		// channel even if the writer of its occupied transition failed.
		if err := e.rdb.ZAdd(ctx, e.k.chans(k.app), goredis.Z{Member: k.ch}).Err(); err != nil {
			return tr, infos, e.failedCtx(ctx, err)
		}
	}
	return tr, infos, err
}

// transitions are what one syncChannel run changed cluster-wide.
type transitions struct {
	occupied, vacated bool
	removed, added    []string
}

func (e *Engine) runSync(ctx context.Context, node, mode string, k chanKey, subs int, sockets []any) (transitions, error) {
	args := append([]any{e.curEpoch(), node, mode, subs}, sockets...)
	res, err := e.runScript(ctx, syncChannel, e.chanKeys(k.app, k.ch, node), args...).Slice()
	if err != nil {
		return transitions{}, e.failedCtx(ctx, err)
	}
	if len(res) != 4 {
		return transitions{}, errors.New("redis: sync channel: unexpected reply")
	}
	before, _ := res[0].(int64)
	after, _ := res[1].(int64)
	return transitions{
		occupied: before == 0 && after > 0,
		vacated:  before > 0 && after == 0,
		removed:  toStrings(res[2]),
		added:    toStrings(res[3]),
	}, nil
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// emit announces transitions this engine caused on behalf of a node: client
// events through Publish, and notices to this node's hub (its Observer sends
// the webhooks). Webhook order follows Pusher: occupied, member_added, …,
// member_removed, vacated.
func (e *Engine) emit(ctx context.Context, k chanKey, tr transitions, infos map[string]string) {
	note := func(n cluster.Notice, user string) {
		e.handler(cluster.Message{AppID: k.app, Channel: k.ch, UserID: user, Notice: n})
	}
	if tr.occupied {
		e.listChannel(ctx, k.app, k.ch, true)
		note(cluster.NoticeChannelOccupied, "")
	}
	for _, u := range tr.added {
		m := protocol.Member{UserID: u}
		if info := infos[u]; info != "" {
			m.UserInfo = []byte(info)
		}
		e.publishQuiet(ctx, cluster.Message{AppID: k.app, Channel: k.ch,
			Event: protocol.EventMemberAdded, Data: protocol.MemberAddedData(m)})
		note(cluster.NoticeMemberAdded, u)
	}
	for _, u := range tr.removed {
		e.publishQuiet(ctx, cluster.Message{AppID: k.app, Channel: k.ch,
			Event: protocol.EventMemberRemoved, Data: protocol.MemberRemovedData(u)})
		note(cluster.NoticeMemberRemoved, u)
	}
	if tr.vacated {
		e.listChannel(ctx, k.app, k.ch, false)
		note(cluster.NoticeChannelVacated, "")
	}
}

// publishQuiet publishes a member event; it needs Redis, not this node's
// pub/sub connection (other nodes' clients are the audience).
func (e *Engine) publishQuiet(ctx context.Context, m cluster.Message) {
	if err := e.publish(ctx, e.k.topic(m.AppID, m.Channel), encodeMessage(m)); err != nil {
		e.log.Warn("publish member event", "app_id", m.AppID, "channel", m.Channel, "err", err)
	}
}

// reap removes a dead node's state channel by channel, holding the dead
// node's reap lock (which also keeps that node, should it come back, from
// writing its state back before the reaping is over). The lease is checked
// after the lock is taken; each channel's script reports only what it
// removed itself, so concurrent reapers never announce a transition twice.
func (e *Engine) reap(ctx context.Context, dead string) error {
	ok, err := e.rdb.SetNX(ctx, e.k.reapLock(dead), e.node, 2*e.opts.LeaseTTL).Result()
	if err != nil || !ok {
		return err
	}
	defer e.rdb.Del(context.WithoutCancel(ctx), e.k.reapLock(dead))
	expired, err := e.runScript(ctx, leaseExpired, []string{e.k.nodes()}, dead).Int()
	if err != nil || expired != 1 {
		return err // alive again
	}
	entries, err := e.rdb.SMembers(ctx, e.k.index(dead)).Result()
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		e.log.Info("reaping dead node", "dead_node", dead, "channels", len(entries))
	}
	for _, en := range entries {
		app, ch, ok := splitEntry(en)
		if ok {
			k := chanKey{app, ch}
			tr, err := e.runSync(ctx, dead, "reap", k, 0, nil)
			if err != nil {
				return err
			}
			e.emit(ctx, k, tr, nil)
		}
		if err := e.rdb.SRem(ctx, e.k.index(dead), en).Err(); err != nil {
			return err
		}
	}
	return e.forget(ctx, dead)
}

// forget removes a node without state from Redis: its connection counts,
// then (if its index is empty) its app list and (if its lease is expired)
// its lease.
func (e *Engine) forget(ctx context.Context, node string) error {
	apps, err := e.rdb.SMembers(ctx, e.k.nodeApps(node)).Result()
	if err != nil {
		return err
	}
	for _, app := range apps {
		_ = e.rdb.HDel(ctx, e.k.conns(app), node).Err()
	}
	empty, err := e.runScript(ctx, nodeEmpty, []string{e.k.index(node), e.k.nodeApps(node)}).Int()
	if err != nil || empty != 1 {
		return err
	}
	return e.runScript(ctx, dropLease, []string{e.k.nodes()}, node).Err()
}

// prune removes from this node's index the channels where it no longer owns
// state: live calls only add entries (a removal could race with a later
// addition). Each entry is checked under the channel's stripe, so no live
// call on the channel is in flight; a dirty node is left to its resync.
func (e *Engine) prune(ctx context.Context) {
	e.mu.Lock()
	skip := e.dirty
	e.mu.Unlock()
	if skip || !e.synced.Load() || time.Since(e.pruned) < 10*e.opts.Interval {
		return
	}
	e.pruned = time.Now()
	entries, err := e.rdb.SMembers(ctx, e.k.index(e.node)).Result()
	if err != nil {
		return
	}
	for _, en := range entries {
		app, ch, ok := splitEntry(en)
		if !ok {
			_ = e.rdb.SRem(ctx, e.k.index(e.node), en).Err()
			continue
		}
		if e.pruneOne(ctx, chanKey{app, ch}, en) != nil {
			return
		}
	}
}

func (e *Engine) pruneOne(ctx context.Context, k chanKey, en string) error {
	st := e.stripe(k.app, k.ch)
	st.Lock()
	defer st.Unlock()
	e.mu.Lock()
	owned := e.mirror[k] != nil || e.dirty
	e.mu.Unlock()
	if owned {
		return nil
	}
	return e.rdb.SRem(ctx, e.k.index(e.node), en).Err()
}
