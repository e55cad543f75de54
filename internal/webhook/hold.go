package webhook

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// holder delays channel_vacated and member_removed (protocol.md §7.3): if
// the channel is occupied again (the user added again) within delay, the
// held event and the one that cancels it are both dropped. Held events live
// only in memory, for at most delay.
type holder struct {
	delay time.Duration
	n     atomic.Int64 // len(byKey): lets cancel skip the lock when nothing is held
	wake  chan struct{}

	mu    sync.Mutex
	byKey map[holdKey]*held // guarded by mu
	fifo  []*held           // guarded by mu; due order, since delay is constant
}

type holdKey struct{ app, channel, user string }

type held struct {
	key       holdKey
	ev        hub.Event
	at, due   time.Time
	cancelled bool // guarded by holder.mu
}

func (h *holder) init(delay time.Duration) {
	h.delay = delay
	h.byKey = make(map[holdKey]*held)
	h.wake = make(chan struct{}, 1)
}

func keyOf(e hub.Event) holdKey {
	return holdKey{e.AppID, e.Channel, e.UserID}
}

// add holds e (vacated or removed) until at+delay; false if one was held
// already (the first one stands).
func (h *holder) add(e hub.Event, at time.Time) bool {
	k := keyOf(e)
	h.mu.Lock()
	if _, dup := h.byKey[k]; dup {
		h.mu.Unlock()
		return false
	}
	x := &held{key: k, ev: e, at: at, due: at.Add(h.delay)}
	h.byKey[k] = x
	h.fifo = append(h.fifo, x)
	first := len(h.fifo) == 1
	h.n.Add(1)
	h.mu.Unlock()
	if first {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// cancel reports whether e (occupied or added) cancelled a held event.
func (h *holder) cancel(e hub.Event) bool {
	if h.n.Load() == 0 {
		return false
	}
	k := keyOf(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	x, ok := h.byKey[k]
	if !ok {
		return false
	}
	x.cancelled = true
	delete(h.byKey, k)
	h.n.Add(-1)
	return true
}

// due removes and returns the held events due at now (all of them when all
// is set), and when the next one is due (zero if none).
func (h *holder) takeDue(now time.Time, all bool) ([]*held, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*held
	i := 0
	for ; i < len(h.fifo); i++ {
		x := h.fifo[i]
		if x.cancelled {
			continue
		}
		if !all && x.due.After(now) {
			break
		}
		out = append(out, x)
		delete(h.byKey, x.key)
		h.n.Add(-1)
	}
	h.fifo = h.fifo[i:]
	if len(h.fifo) == 0 {
		h.fifo = nil
		return out, time.Time{}
	}
	return out, h.fifo[0].due
}

// runHolder releases held events when due, and all of them on Close.
func (s *Sender) runHolder() {
	defer close(s.holdDone)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-s.hold.wake:
		case <-t.C:
		case <-s.holdStop:
			list, _ := s.hold.takeDue(time.Now(), true)
			s.release(list, false)
			return
		}
		list, next := s.hold.takeDue(time.Now(), false)
		s.release(list, true)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t.Reset(wait)
	}
}

func (s *Sender) release(list []*held, recheck bool) {
	for _, x := range list {
		a, err := s.opts.Apps.ByID(x.ev.AppID)
		if err != nil {
			continue
		}
		if recheck && s.takenElsewhere(x.ev) {
			continue // its pair came back on another node, which sent nothing either
		}
		if recheck && s.opts.StillGone != nil && !s.opts.StillGone(x.ev) {
			s.stats.suppressed.Add(1) // back within the hold, on another node
			continue
		}
		typ, _ := typeOf(x.ev.Kind)
		s.dispatch(a, typ, x.ev, x.at)
	}
}
