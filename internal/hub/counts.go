package hub

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Subscription counts (pusher_internal:subscription_count, protocol.md
// §3.12) are coalesced per channel: a subscribe or unsubscribe only records
// the change in its shard; one hub-wide timer, armed while something is
// pending, flushes the channels that are due. A flush reads each channel's
// count from the engine as it is then (the last value wins) and publishes it
// once. A change is never dropped, only delayed (the trailing update).
//
// When a channel's pending change goes out:
//   - at once, if the channel was quiet: nothing pending, and its last update
//     is older than its interval (the leading edge);
//   - otherwise once the count has stood still for CountWindow (the burst is
//     over), or once the change has waited the channel's interval while the
//     count kept moving, whichever comes first;
//   - and never sooner than one interval after the channel's previous update.
//
// A channel's interval is n/countDeliveriesPerSec for n subscribers (50 ms a
// subscriber), at least CountWindow and at most 5 s — Pusher's own cadence
// past 100 subscribers. So one channel's counts cost at most
// countDeliveriesPerSec deliveries a second however fast sockets join, and a
// join storm costs one update per channel once it is over: every subscriber
// of a channel is told its count once, instead of every few hundred
// milliseconds while the storm lasts. Each update is a write(2) to a socket
// that is otherwise idle, so it is the frames that cost (docs/PERFORMANCE.md).
//
// No goroutine or timer per channel: the state is one small map entry per
// recently changed channel, and its key sits on its shard's pending list
// until it is sent.

// countWindowLarge is the longest interval, the cadence for channels with
// 100 subscriptions or more (protocol.md §3.12).
const countWindowLarge = 5 * time.Second

// countDeliveriesPerSec bounds the deliveries a second that one channel's
// count updates cause.
const countDeliveriesPerSec = 20

// countFlushesPerWindow bounds how often the hub flushes: at most this many
// times per CountWindow (every 50 ms by default), each pass going over the
// pending channels of every shard.
const countFlushesPerWindow = 5

// countInterval is the shortest time between two updates of a channel with
// count subscribers, and how long a change waits at most while the count
// keeps moving.
func (h *Hub) countInterval(count int) time.Duration {
	d := time.Duration(count) * time.Second / countDeliveriesPerSec
	return min(max(d, h.opts.CountWindow), countWindowLarge)
}

// countState is a channel's coalescing state. Times are durations since
// Hub.epoch (monotonic, 8 bytes each). Guarded by its shard's countMu.
type countState struct {
	next  time.Duration // the earliest time the next update may go out
	since time.Duration // when the pending change began
	last  time.Duration // the latest change
	count int           // the count after the latest change, as the engine said
	dirty bool          // a change is pending; the key is on the shard's list
}

// due is when the pending change may go out.
func (h *Hub) countDue(st countState) time.Duration {
	at := min(st.last+h.opts.CountWindow, st.since+h.countInterval(st.count))
	return max(at, st.next)
}

// countChanged records that the channel's subscription count changed to
// count; s is the channel's shard. It never blocks on the engine.
func (h *Hub) countChanged(s *shard, k chanKey, count int) {
	now := time.Since(h.epoch)
	s.countMu.Lock()
	st := s.counts[k]
	st.last, st.count = now, count
	if st.dirty {
		s.counts[k] = st
		s.countMu.Unlock()
		return // the update already scheduled will carry this change
	}
	st.dirty, st.since = true, now
	at := h.countDue(st)
	if now >= st.next {
		// A quiet channel: this change is the leading edge and goes out at
		// once (a since this far back makes it due whatever happens next).
		at = now
		st.since = now - countWindowLarge
	}
	s.counts[k] = st
	s.countDirty = append(s.countDirty, k)
	s.countMu.Unlock()
	h.scheduleCounts(at)
}

// scheduleCounts arms the flush timer for at (or the earliest time the next
// flush may run, if later), unless it is already armed for no later.
func (h *Hub) scheduleCounts(at time.Duration) {
	h.countMu.Lock()
	defer h.countMu.Unlock()
	if h.flushed {
		at = max(at, h.lastFlush+h.opts.CountWindow/countFlushesPerWindow)
	}
	if h.countArmed && at >= h.countAt {
		return
	}
	h.countArmed, h.countAt = true, at
	d := at - time.Since(h.epoch)
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
	now := time.Since(h.epoch)
	h.countMu.Lock()
	h.countArmed, h.flushed, h.lastFlush = false, true, now
	h.countMu.Unlock()

	due := h.dueScratch[:0]
	next := time.Duration(-1) // the earliest pending change not due yet
	sweep := now-h.lastSweep >= countWindowLarge
	if sweep {
		h.lastSweep = now
	}
	for i := range h.shards {
		s := &h.shards[i]
		s.countMu.Lock()
		keep := s.countDirty[:0]
		for _, k := range s.countDirty {
			st := s.counts[k]
			if at := h.countDue(st); now < at {
				keep = append(keep, k)
				if next < 0 || at < next {
					next = at
				}
				continue
			}
			st.dirty, st.next = false, now+h.opts.CountWindow
			s.counts[k] = st
			due = append(due, k)
		}
		clear(s.countDirty[len(keep):])
		s.countDirty = keep
		if sweep { // forget channels quiet for longer than any interval
			for k, st := range s.counts {
				if !st.dirty && now-st.next >= countWindowLarge {
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
				st.next = now + d
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
	if next >= 0 {
		h.scheduleCounts(next)
	}
}
