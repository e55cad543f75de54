package wsconn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// sweepChunk is how many dirty connections a loop writes before it lets
// epoll hand it the input that came meanwhile (REST requests above all):
// see loop.run.
const sweepChunk = 64

// loop batches writes for the connections of one gnet event loop: Send marks
// a connection dirty and schedules at most one pass; the pass writes each
// dirty connection once, however many frames it gathered, sweepChunk
// connections at a time.
type loop struct {
	el    gnet.EventLoop
	flush gnet.RunnableFunc
	idx   int             // this loop's index in hub.Delivery.Marks
	stop  <-chan struct{} // Transport.stop

	mu    sync.Mutex
	dirty []*conn // guarded by mu
	// scheduled is set from the first dirty connection until a pass ends
	// with nothing dirty: while it is set, Send wakes no one. Guarded by mu.
	scheduled bool
	// current is the connection whose input the loop is handling (see
	// traffic), currentDirty whether it was sent something meanwhile.
	// Guarded by mu.
	current      *conn
	currentDirty bool
	// held are the deliveries with frames queued for the next pass, released
	// after it (track). Guarded by mu.
	held []*hub.Delivery
	// passes counts the passes that took the dirty list; written under mu.
	passes atomic.Uint32

	spare     []*conn         // loop-owned: the previous dirty slice, reused
	heldSpare []*hub.Delivery // loop-owned: the previous held slice, reused

	// Loop-owned: the pass in progress (run). sweep is the dirty list it
	// took, next the first connection not written yet, sweepHeld the
	// deliveries it releases at its end.
	inPass    bool
	sweep     []*conn
	next      int
	sweepHeld []*hub.Delivery
	kick      kicker // yield.go

	bytes byteCounts // this loop's traffic (bytes.go)

	// Loop-owned: connections with outbound bytes waiting (outbound.go).
	watched    []*conn
	watchSpare []*conn
	timerArmed bool
	timer      *time.Timer   // runs checkWatched on the loop
	iov        [][]byte      // scratch for conn.handOver
	hs         *upgradeState // scratch for handshakes, made on first use
}

func newLoop(el gnet.EventLoop, idx int, stop <-chan struct{}) *loop {
	l := &loop{el: el, idx: idx, stop: stop}
	l.flush = l.run
	check := gnet.RunnableFunc(l.checkWatched)
	l.timer = time.AfterFunc(time.Hour, func() {
		// An error means the loop is shutting down, and its connections with it.
		_ = el.Execute(context.Background(), check)
	})
	l.timer.Stop()
	return l
}

// enqueue marks c dirty. Called by any goroutine, with c.mu not held.
func (l *loop) enqueue(c *conn) {
	l.mu.Lock()
	if c == l.current {
		// traffic flushes c when its input is handled: a reply (e.g.
		// subscription_succeeded) costs no flush task, i.e. no eventfd
		// write and read to wake the loop that is already running.
		l.currentDirty = true
		l.mu.Unlock()
		return
	}
	l.dirty = append(l.dirty, c)
	l.schedule()
}

// track holds d until the end of the next pass, which writes every frame
// queued on this loop before the call: d is held once per loop and pass,
// however many of the loop's connections it reaches (d.Marks remembers the
// pass it is held for). Called by the goroutine delivering d, after queueing
// the frame.
func (l *loop) track(d *hub.Delivery) {
	if l.idx < len(d.Marks) && d.Marks[l.idx] == l.passes.Load()+1 {
		return // held for a pass that has not taken its list yet
	}
	if l.idx >= len(d.Marks) {
		d.Marks = append(d.Marks, make([]uint32, l.idx+1-len(d.Marks))...)
	}
	d.Hold()
	l.mu.Lock()
	d.Marks[l.idx] = l.passes.Load() + 1
	l.held = append(l.held, d)
	l.schedule()
}

// schedule makes sure a pass will run, and unlocks l.mu (held on entry).
func (l *loop) schedule() {
	sched := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if sched {
		if err := l.el.Execute(context.Background(), l.flush); err != nil {
			// The loop is shutting down; connections are closed with it.
			l.mu.Lock()
			l.scheduled = false
			l.mu.Unlock()
		}
	}
}

// traffic handles c's input on the loop and then writes what c was sent
// meanwhile (replies, and frames of other senders that came in the
// meantime), in the same loop pass. Loop only.
func (l *loop) traffic(c *conn) gnet.Action {
	l.mu.Lock()
	l.current = c
	l.mu.Unlock()
	act := c.readFrames()
	l.mu.Lock()
	l.current = nil
	dirty := l.currentDirty
	l.currentDirty = false
	l.mu.Unlock()
	if dirty {
		l.flushOne(c)
	}
	return act
}

// run is the pass: it takes the dirty list and writes sweepChunk of its
// connections at a time, yielding to epoll between chunks (loop.yield), so
// that a loop writing thousands of sockets still reads its REST requests
// (and every other input) every chunk instead of once per pass. A publish
// answered on the loop meanwhile appends to the pending frames of the
// connections not written yet, which then leave in the same write: the
// longer a pass, the more events each write carries. Once the list is done
// the pass releases its deliveries and, if connections became dirty
// meanwhile, the next pass starts after another yield. Runs on the loop.
func (l *loop) run(context.Context) error {
	if !l.inPass {
		l.mu.Lock()
		l.sweep, l.sweepHeld = l.dirty, l.held
		l.dirty, l.held = l.spare, l.heldSpare
		l.passes.Add(1)
		l.mu.Unlock()
		l.inPass, l.next = true, 0
	}
	list := l.sweep
	end := min(l.next+sweepChunk, len(list))
	for i := l.next; i < end; i++ {
		l.flushOne(list[i]) // recovers: a panic closes that connection alone
		list[i] = nil
	}
	l.next = end
	if l.next < len(list) {
		l.yield(true)
		return nil
	}
	l.spare, l.sweep = list[:0], nil
	held := l.sweepHeld
	for i, d := range held {
		d.Release()
		held[i] = nil
	}
	l.heldSpare, l.sweepHeld = held[:0], nil
	l.inPass = false
	l.mu.Lock()
	more := len(l.dirty) > 0 || len(l.held) > 0
	if !more {
		l.scheduled = false
	}
	l.mu.Unlock()
	if more {
		l.yield(false)
	}
	return nil
}

// flushOne flushes c; a panic closes c alone (see Transport.recovered).
func (l *loop) flushOne(c *conn) {
	defer c.t.recovered("flush", c.gc, nil)
	if c.t.opts.testHook != nil {
		c.t.opts.testHook("flush", c.socketID)
	}
	c.flush()
}
