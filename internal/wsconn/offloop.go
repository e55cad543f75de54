package wsconn

import (
	"context"
	"runtime/debug"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Engine calls off the event loops (issue 10 §4).
//
// With a blocking engine (hub.Blocking: Redis), every hub call that reaches
// the engine - subscribe, unsubscribe, sign-in, client events and the
// clean-up of a closed connection - runs on a worker of the transport's
// pool, never on a gnet loop, and its loop-side completion (the
// connection's own state, error frames) is handed back to the connection's
// loop with EventLoop.Execute. A connection has at most one such call in
// flight (c.busy); the messages it receives meanwhile wait in
// c.rare.waiting and are handled in order after the completion, so each
// connection still sees its messages handled one after the other. With a
// non-blocking engine (memory) the calls are made in place, as before.

// Bounds of the messages a connection may have waiting behind an engine
// call; past either it is closed with errTooManyWaiting.
const (
	maxWaitingMessages = 1000
	maxWaitingBytes    = 256 << 10 // each message counts its length plus waitingOverhead
	waitingOverhead    = 64
	defaultWorkers     = 64
)

// errTooManyWaiting closes a connection that sends faster than the cluster
// engine answers it (4100: the client backs off, then reconnects).
var errTooManyWaiting = &protocol.Error{Code: protocol.CodeOverCapacity,
	Message: "Too many messages waiting for the cluster: slow down"}

// workers runs engine calls off the event loops: at most max goroutines,
// started on demand and gone when the queue is empty. The queue holds at
// most one call per connection (plus clean-ups of closed ones).
type workers struct {
	log func(msg string, args ...any)
	max int

	mu      sync.Mutex
	queue   []func() // guarded by mu
	running int      // guarded by mu
}

// submit queues f. It never blocks.
func (w *workers) submit(f func()) {
	w.mu.Lock()
	w.queue = append(w.queue, f)
	start := w.running < w.max
	if start {
		w.running++
	}
	w.mu.Unlock()
	if start {
		go w.work()
	}
}

func (w *workers) work() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.queue = nil // give the backing array back
			w.running--
			w.mu.Unlock()
			return
		}
		f := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()
		w.run(f)
	}
}

// run calls f; a panic is logged and the worker carries on.
func (w *workers) run(f func()) {
	defer func() {
		if r := recover(); r != nil {
			w.log("engine call panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// offload runs call on a worker, then done (which may be nil) on c's loop,
// followed by the messages that waited meanwhile. Loop only; c must not be
// busy. If call panics, c is closed instead of done (the panic is logged by
// the worker).
func (c *conn) offload(call, done func()) {
	c.busy = true
	c.t.workers.submit(func() {
		finished := false
		defer func() {
			then := done
			if !finished {
				then = func() { c.Close(errInternal) }
			}
			err := c.loop.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				c.resume(then)
				return nil
			}))
			if err != nil { // the loop is stopping (server shutdown): nothing runs on it any more
				c.t.log.Debug("event loop gone before an engine call completed", "socket_id", c.socketID)
			}
		}()
		call()
		finished = true
	})
}

// errInternal closes a connection whose handling failed on a bug.
var errInternal = &protocol.Error{Code: protocol.CodeOverCapacity, Message: "Internal server error"}

// resume completes an engine call on the loop, then handles what waited.
// A panic closes c alone (see Transport.OnTraffic).
func (c *conn) resume(done func()) {
	defer func() {
		if r := recover(); r != nil {
			c.t.log.Error("connection handler panicked; connection closed", "panic", r, "stack", string(debug.Stack()))
			c.busy = false
			c.Close(errInternal)
			c.drainWaiting() // c is closing: this drops what waited, or cleans up a closed c
		}
	}()
	c.busy = false
	if done != nil {
		done()
	}
	c.drainWaiting()
}

// drainWaiting handles waiting messages until one makes c busy again or
// none is left; a connection closed meanwhile is cleaned up instead. Loop only.
func (c *conn) drainWaiting() {
	for !c.busy && c.rare != nil {
		r := c.rare
		if r.closedWhileBusy {
			r.closedWhileBusy = false
			r.waiting, r.waitingBytes = nil, 0
			c.cleanup(r.closeReason)
			return
		}
		if len(r.waiting) == 0 {
			r.waiting = nil
			return
		}
		m := r.waiting[0]
		r.waiting[0] = nil
		r.waiting = r.waiting[1:]
		r.waitingBytes -= len(m) + waitingOverhead
		if c.closingOrClosed() {
			continue // the connection is going: its messages no longer matter
		}
		c.dispatch(m)
	}
}

// wait queues a copy of message b behind the engine call in flight, or
// closes c past the bounds. Loop only.
func (c *conn) wait(b []byte) {
	if c.closingOrClosed() {
		return
	}
	r := c.r()
	if len(r.waiting) >= maxWaitingMessages || r.waitingBytes+len(b)+waitingOverhead > maxWaitingBytes {
		c.Close(errTooManyWaiting)
		return
	}
	r.waiting = append(r.waiting, append([]byte(nil), b...))
	r.waitingBytes += len(b) + waitingOverhead
}

func (c *conn) closingOrClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed || c.closing != nil
}
