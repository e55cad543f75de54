package hub

import (
	"runtime/debug"
	"sync"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// Fan-outs off the publisher (issue 16).
//
// With the in-memory engine, Deliver runs on the publishing goroutine, which
// is an event loop for a REST request answered on the loop or a client
// event. A message to 10,000 local subscribers is 10,000 Sends: done by the
// loop that read the request, they take that loop's time from writing its
// own sockets (measured: the loop holding the REST connections wrote a
// tenth of what the other did, and its subscribers lagged seconds behind).
// So a message for more than Options.AsyncFanout local subscribers is
// queued on its shard and fanned out by the shard's goroutine, started on
// demand and gone when the queue is empty; the publisher goes on at once.
//
// Order: a shard's queue is first in, first out, and while it is not empty
// or its goroutine is fanning out, every message of the shard is queued, the
// small ones too. So two messages published one after the other (by one
// REST connection, one socket's client events, one history stripe) reach
// each subscriber in that order, whichever path each took.
//
// The queue is bounded (maxQueued); a publisher that finds it full waits
// for room, as it would have spent that time fanning out itself.

// maxQueued bounds the messages waiting in one shard's queue.
const maxQueued = 256

// fanQueue is a shard's queue of messages to fan out.
type fanQueue struct {
	mu      sync.Mutex
	room    sync.Cond // L is &mu; signalled when a message leaves a full queue
	queue   []queuedMessage
	running bool // the shard's goroutine is fanning out or about to
}

type queuedMessage struct {
	m cluster.Message
	d *Delivery
}

// deliverAsync queues m on s if s fans out off the publisher now or m's
// channel has more than AsyncFanout local subscribers, and reports whether
// it did.
func (h *Hub) deliverAsync(s *shard, k chanKey, m cluster.Message) bool {
	q := &s.fan
	q.mu.Lock()
	if !q.running {
		s.mu.RLock()
		n := 0
		if ch := s.channels[k]; ch != nil {
			n = len(ch.clients)
		}
		s.mu.RUnlock()
		if n <= h.opts.AsyncFanout {
			q.mu.Unlock()
			return false
		}
		q.running = true
		go h.fanOut(s)
	}
	for len(q.queue) >= maxQueued {
		q.room.Wait()
	}
	q.queue = append(q.queue, queuedMessage{m: m, d: h.newDelivery()})
	q.mu.Unlock()
	return true
}

// fanOut delivers s's queued messages in order until the queue is empty.
func (h *Hub) fanOut(s *shard) {
	q := &s.fan
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.queue = nil // give the backing array back
			q.running = false
			q.mu.Unlock()
			return
		}
		qm := q.queue[0]
		full := len(q.queue) >= maxQueued
		q.queue[0] = queuedMessage{}
		q.queue = q.queue[1:]
		if full {
			q.room.Broadcast()
		}
		q.mu.Unlock()
		h.fanOutQueued(s, qm)
	}
}

// fanOutQueued fans one queued message out; a panic (a bug) is logged and
// costs that message alone, the queue goes on.
func (h *Hub) fanOutQueued(s *shard, qm queuedMessage) {
	defer func() {
		if r := recover(); r != nil {
			h.opts.Log.Error("fan-out panicked; message dropped", "app_id", qm.m.AppID, "channel", qm.m.Channel,
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	h.fanOutNow(s, qm.m, qm.d)
}
