package hub

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Subscription counts (pusher_internal:subscription_count, protocol.md
// §3.12) are coalesced per channel: a subscribe or unsubscribe only marks
// the channel's count dirty in its shard; one hub-wide timer, armed while
// something is dirty, flushes the dirty channels. A flush reads each
// channel's count from the engine as it is then (the last value wins) and
// publishes it once. A change is never dropped, only delayed to the next
// flush it is due in (the trailing update); a quiet hub flushes a first
// change at once.
//
// How soon a channel may be told again depends on its size, so that a
// channel's counts cost at most countDeliveriesPerSec deliveries a second
// however fast sockets join: after telling n subscribers, the next update
// waits n/countDeliveriesPerSec (50 ms a subscriber), at least CountWindow
// and at most 5 s — Pusher's own cadence past 100 subscribers. Every socket
// joining a channel costs a write anyway; a count per join costs one write
// per subscriber, which made a join storm into 100 channels cost ~3× the
// CPU of the same joins without counts (docs/PERFORMANCE.md).
//
// No goroutine or timer per channel: the state is one small map entry per
// recently changed channel, and its key sits on its shard's dirty list
// until it is sent.

// countWindowLarge is the longest a change waits, and the cadence for
// channels with 100 subscriptions or more (protocol.md §3.12).
const countWindowLarge = 5 * time.Second

// countDeliveriesPerSec bounds the deliveries a second that one channel's
// count updates cause.
const countDeliveriesPerSec = 20

// countInterval is the shortest time between two updates of a channel that
// was just told count.
func (h *Hub) countInterval(count int) time.Duration {
	d := time.Duration(count) * time.Second / countDeliveriesPerSec
	return min(max(d, h.opts.CountWindow), countWindowLarge)
}

// countState is a channel's coalescing state. Guarded by its shard's countMu.
type countState struct {
	next  time.Time // the earliest time the next update may go out
	dirty bool      // changed since the last update; its key is on the dirty list
}

// countChanged records that the channel's subscription count changed; s is
// the channel's shard. It never blocks on the engine.
func (h *Hub) countChanged(s *shard, k chanKey) {
	s.countMu.Lock()
	st := s.counts[k]
	if st.dirty {
		s.countMu.Unlock()
		return // the update already scheduled will carry this change
	}
	st.dirty = true
	s.counts[k] = st
	s.countDirty = append(s.countDirty, k)
	s.countMu.Unlock()
	h.scheduleCounts(st.next)
}

// scheduleCounts arms the flush timer for at (or the earliest time the next
// flush may run, if later), unless it is already armed for no later.
func (h *Hub) scheduleCounts(at time.Time) {
	h.countMu.Lock()
	defer h.countMu.Unlock()
	if earliest := h.lastFlush.Add(h.opts.CountWindow); at.Before(earliest) {
		at = earliest
	}
	if h.countArmed && !at.Before(h.countAt) {
		return
	}
	h.countArmed, h.countAt = true, at
	d := time.Until(at)
	if h.countTimer == nil {
		h.countTimer = time.AfterFunc(d, h.flushCounts)
		return
	}
	h.countTimer.Reset(d)
}

// flushCounts sends the due counts. Flushes never overlap (flushMu), so the
// updates of one channel leave this node in the order their counts were read.
func (h *Hub) flushCounts() {
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	now := time.Now()
	h.countMu.Lock()
	h.countArmed, h.lastFlush = false, now
	h.countMu.Unlock()

	due := h.dueScratch[:0]
	var next time.Time // the earliest not-yet-due dirty channel
	sweep := now.Sub(h.lastSweep) >= countWindowLarge
	if sweep {
		h.lastSweep = now
	}
	for i := range h.shards {
		s := &h.shards[i]
		s.countMu.Lock()
		keep := s.countDirty[:0]
		for _, k := range s.countDirty {
			st := s.counts[k]
			if now.Before(st.next) {
				keep = append(keep, k)
				if next.IsZero() || st.next.Before(next) {
					next = st.next
				}
				continue
			}
			st.dirty, st.next = false, now.Add(h.opts.CountWindow)
			s.counts[k] = st
			due = append(due, k)
		}
		clear(s.countDirty[len(keep):])
		s.countDirty = keep
		if sweep { // forget channels quiet for longer than any window
			for k, st := range s.counts {
				if !st.dirty && now.Sub(st.next) >= countWindowLarge {
					delete(s.counts, k)
				}
			}
		}
		s.countMu.Unlock()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, k := range due {
		count, err := h.engine.SubscriptionCount(ctx, k.app, k.name)
		if err != nil || count == 0 {
			continue // the channel is gone (or the engine is down): nobody to tell
		}
		if d := h.countInterval(count); d > h.opts.CountWindow {
			s := h.shardFor(k)
			s.countMu.Lock()
			if st, ok := s.counts[k]; ok {
				st.next = now.Add(d)
				s.counts[k] = st
			}
			s.countMu.Unlock()
		}
		h.observe(Event{Kind: SubscriptionCount, AppID: k.app, Channel: k.name, Count: count})
		_ = h.engine.Publish(ctx, cluster.Message{AppID: k.app, Channel: k.name,
			Event: protocol.EventSubscriptionCount, Data: protocol.SubscriptionCountData(count)})
	}
	clear(due)
	h.dueScratch = due[:0]
	if !next.IsZero() {
		h.scheduleCounts(next)
	}
}
