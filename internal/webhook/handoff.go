package webhook

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// Marks share held events between the nodes of a cluster (the Redis
// engine's cluster.HoldMarks): a node holding a channel_vacated or
// member_removed marks it; a node whose channel_occupied or member_added
// comes back within the hold takes the mark and sends nothing, and the
// holder, finding its mark taken, sends nothing either. Both answer quickly
// (one round trip, bounded by ctx).
type Marks interface {
	MarkHeld(ctx context.Context, key string, ttl time.Duration) error
	TakeHeld(ctx context.Context, key string) (bool, error)
}

// handoffQueue bounds the marks waiting to be written or taken; past it the
// event goes the single-node way (its pair may then repeat across nodes).
const handoffQueue = 4096

// markJob is one mark to write (mark) or one returning event to check
// against the marks (check: dispatched unless it takes one; otherwise the
// job only removes this node's own mark after a local cancel).
type markJob struct {
	ev    hub.Event
	mark  bool
	check bool
	at    time.Time
}

// markKey names the held half of e's pair: the same for a vacated and the
// occupied that cancels it (a removed and its added).
func markKey(e hub.Event) string {
	kind := "v"
	if e.Kind == hub.MemberRemoved || e.Kind == hub.MemberAdded {
		kind = "m"
	}
	return kind + "\x00" + e.AppID + "\x00" + e.Channel + "\x00" + e.UserID
}

// handoff queues a mark job; false when the queue is full (or no Marks).
func (s *Sender) handoff(j markJob) bool {
	if s.opts.Marks == nil {
		return false
	}
	select {
	case s.marks <- j:
		return true
	default:
		return false
	}
}

// runMarks writes and takes marks in the order Observe saw their events.
func (s *Sender) runMarks() {
	defer close(s.marksDone)
	for {
		select {
		case <-s.holdStop:
			// Closing: the returning events still waiting are sent unchecked
			// (better twice than lost); marks are left to expire.
			for {
				select {
				case j := <-s.marks:
					if j.check {
						s.dispatchNow(j)
					}
				default:
					return
				}
			}
		case j := <-s.marks:
			s.doMark(j)
		}
	}
}

func (s *Sender) doMark(j markJob) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	key := markKey(j.ev)
	switch {
	case j.mark:
		// Kept past the hold, so the holder finds it (or finds it taken).
		_ = s.opts.Marks.MarkHeld(ctx, key, s.hold.delay+10*time.Second)
	case j.check:
		if taken, err := s.opts.Marks.TakeHeld(ctx, key); err == nil && taken {
			s.stats.suppressed.Add(1) // the held half is on another node: both go
			return
		}
		s.dispatchNow(j)
	default:
		_, _ = s.opts.Marks.TakeHeld(ctx, key) // cancelled here: the mark goes
	}
}

// takenElsewhere reports, when a held event is due, whether another node
// took its mark (its pair came back there). Errors answer false: an event is
// better sent than lost.
func (s *Sender) takenElsewhere(e hub.Event) bool {
	if s.opts.Marks == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	mine, err := s.opts.Marks.TakeHeld(ctx, markKey(e))
	return err == nil && !mine
}

func (s *Sender) dispatchNow(j markJob) {
	if a, err := s.opts.Apps.ByID(j.ev.AppID); err == nil {
		typ, _ := typeOf(j.ev.Kind)
		s.dispatch(a, typ, j.ev, j.at)
	}
}
