package memory

import (
	"container/list"
	"context"
	"hash/maphash"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// DefaultHistoryMaxBytes bounds all kept history of one engine when
// Options.HistoryMaxBytes is zero.
const DefaultHistoryMaxBytes = 64 << 20

// entryOverhead approximates the memory of one kept event besides its strings.
const entryOverhead = 96

// histEntry is one kept event.
type histEntry struct {
	ms, seq uint64
	ev      cluster.HistoryEvent
	size    int
}

// ring is one channel's kept events, oldest first. Guarded by history.mu.
type ring struct {
	key     chanKey
	entries []histEntry
	bytes   int
	maxAge  time.Duration
	elem    *list.Element // in history.lru
}

// history is the memory engine's history: a ring per channel, all of them
// together bounded by maxBytes (least recently published channels are
// dropped first). Ids are "<unix ms>-<seq>" like Redis stream ids, ascending
// across the whole engine, so an id is never reused while the process runs
// and a restarted process's ids sort after the old ones.
type history struct {
	now      func() time.Time
	maxBytes int
	seed     maphash.Seed
	// stripes order each channel's publications: a history publish holds
	// its channel's stripe across the append and the delivery, so ids
	// ascend in delivery order.
	stripes [64]sync.Mutex

	mu      sync.Mutex // guards the fields below
	rings   map[chanKey]*ring
	lru     *list.List // of *ring, most recently published at the front
	bytes   int
	events  int
	lastMs  uint64
	lastSeq uint64

	appended atomic.Uint64
	dropped  atomic.Uint64
}

func newHistory(now func() time.Time, maxBytes int) *history {
	if maxBytes <= 0 {
		maxBytes = DefaultHistoryMaxBytes
	}
	return &history{now: now, maxBytes: maxBytes, seed: maphash.MakeSeed(),
		rings: make(map[chanKey]*ring), lru: list.New()}
}

func (h *history) stripe(k chanKey) *sync.Mutex {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(k.app)
	mh.WriteByte(0)
	mh.WriteString(k.channel)
	return &h.stripes[mh.Sum64()%uint64(len(h.stripes))]
}

// publish appends m to its channel's history, sets m.ID and calls deliver,
// holding the channel's stripe across both.
func (h *history) publish(m cluster.Message, deliver cluster.Handler) {
	st := h.stripe(chanKey{m.AppID, m.Channel})
	st.Lock()
	defer st.Unlock()
	m.ID = h.append(m)
	deliver(m)
}

func (h *history) append(m cluster.Message) string {
	k := chanKey{m.AppID, m.Channel}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := uint64(now.UnixMilli())
	if ms > h.lastMs {
		h.lastMs, h.lastSeq = ms, 0
	} else {
		h.lastSeq++
	}
	id := strconv.FormatUint(h.lastMs, 10) + "-" + strconv.FormatUint(h.lastSeq, 10)
	r := h.rings[k]
	if r == nil {
		r = &ring{key: k}
		r.elem = h.lru.PushFront(r)
		h.rings[k] = r
		h.bytes += len(k.app) + len(k.channel) + entryOverhead
	} else {
		h.lru.MoveToFront(r.elem)
	}
	r.maxAge = m.History.MaxAge
	e := histEntry{ms: h.lastMs, seq: h.lastSeq, ev: cluster.HistoryEvent{ID: id, Event: m.Event, Data: m.Data,
		UserID: m.UserID, ExcludeSocket: m.ExcludeSocket}}
	e.size = len(id) + len(m.Event) + len(m.Data) + len(m.UserID) + len(m.ExcludeSocket) + entryOverhead
	r.entries = append(r.entries, e)
	r.bytes += e.size
	h.bytes += e.size
	h.events++
	h.appended.Add(1)
	for len(r.entries) > m.History.MaxEvents {
		h.dropFront(r)
	}
	h.expire(r, now)
	h.bound(r, now)
	return id
}

// dropFront drops r's oldest event. Must be called with h.mu held.
func (h *history) dropFront(r *ring) {
	e := r.entries[0]
	r.entries[0] = histEntry{}
	r.entries = r.entries[1:]
	r.bytes -= e.size
	h.bytes -= e.size
	h.events--
}

// expire drops r's events older than its max age. Must be called with h.mu held.
func (h *history) expire(r *ring, now time.Time) {
	min := uint64(now.Add(-r.maxAge).UnixMilli())
	for len(r.entries) > 0 && r.entries[0].ms < min {
		h.dropFront(r)
	}
}

// remove forgets r. Must be called with h.mu held.
func (h *history) remove(r *ring) {
	for len(r.entries) > 0 {
		h.dropFront(r)
	}
	h.lru.Remove(r.elem)
	delete(h.rings, r.key)
	h.bytes -= len(r.key.app) + len(r.key.channel) + entryOverhead
}

// bound keeps the memory bound after cur grew: it forgets the least
// recently published channel when all its events are past their age, then,
// while over maxBytes, drops whole channels from the least recently
// published end (or cur's oldest events when cur is the last one). Must be
// called with h.mu held.
func (h *history) bound(cur *ring, now time.Time) {
	if back := h.lru.Back(); back != nil && back.Value.(*ring) != cur {
		r := back.Value.(*ring)
		if h.expire(r, now); len(r.entries) == 0 {
			h.remove(r)
		}
	}
	for h.bytes > h.maxBytes {
		r := h.lru.Back().Value.(*ring)
		if r == cur {
			if len(cur.entries) <= 1 {
				return // one event always fits: limits.max_event_bytes ≪ the bound
			}
			h.dropFront(cur)
			h.dropped.Add(1)
			continue
		}
		h.dropped.Add(uint64(len(r.entries)))
		h.remove(r)
	}
}

// read answers a query on one channel.
func (h *history) read(k chanKey, p cluster.HistoryPolicy, q cluster.HistoryQuery) (cluster.HistoryPage, error) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var page cluster.HistoryPage
	r := h.rings[k]
	if r != nil {
		r.maxAge = p.MaxAge
		if h.expire(r, now); len(r.entries) == 0 {
			h.remove(r)
			r = nil
		}
	}
	var entries []histEntry
	if r != nil {
		entries = r.entries
	}
	if q.Since == "" {
		entries = entries[max(0, len(entries)-q.Limit):]
	} else {
		ms, seq, ok := protocol.ParseHistoryID(q.Since)
		i := sort.Search(len(entries), func(i int) bool {
			e := entries[i]
			return e.ms > ms || (e.ms == ms && e.seq >= seq)
		})
		if !ok || i == len(entries) || entries[i].ms != ms || entries[i].seq != seq {
			return page, cluster.ErrHistoryGone
		}
		entries = entries[i+1:]
		if len(entries) > q.Limit {
			entries, page.More = entries[:q.Limit], true
		}
	}
	page.Events = make([]cluster.HistoryEvent, len(entries))
	for i := range entries {
		page.Events[i] = entries[i].ev
	}
	return page, nil
}

func (h *history) stats() cluster.HistoryStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return cluster.HistoryStats{Appended: h.appended.Load(), Dropped: h.dropped.Load(),
		Events: int64(h.events), Bytes: int64(h.bytes), Channels: int64(len(h.rings))}
}

// History implements cluster.History.
func (e *Engine) History(_ context.Context, appID, channel string, p cluster.HistoryPolicy, q cluster.HistoryQuery) (cluster.HistoryPage, error) {
	return e.hist.read(chanKey{appID, channel}, p, q)
}

// HistoryStats implements cluster.Engine.
func (e *Engine) HistoryStats() cluster.HistoryStats { return e.hist.stats() }
