package wsconn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// loop batches writes for the connections of one gnet event loop: Send marks
// a connection dirty and schedules at most one flush task per loop pass; the
// task writes each dirty connection once, however many frames it gathered.
type loop struct {
	el    gnet.EventLoop
	flush gnet.RunnableFunc
	idx   int // this loop's index in hub.Delivery.Marks

	mu        sync.Mutex
	dirty     []*conn // guarded by mu
	scheduled bool    // guarded by mu
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

	bytes byteCounts // this loop's traffic (bytes.go)

	// Loop-owned: connections with outbound bytes waiting (outbound.go).
	watched    []*conn
	watchSpare []*conn
	timerArmed bool
	timer      *time.Timer   // runs checkWatched on the loop
	iov        [][]byte      // scratch for conn.handOver
	hs         *upgradeState // scratch for handshakes, made on first use
}

func newLoop(el gnet.EventLoop, idx int) *loop {
	l := &loop{el: el, idx: idx}
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

// run flushes every dirty connection. Runs on the loop.
func (l *loop) run(context.Context) error {
	l.mu.Lock()
	list, held := l.dirty, l.held
	l.dirty, l.held = l.spare, l.heldSpare
	l.scheduled = false
	l.passes.Add(1)
	l.mu.Unlock()
	for i, c := range list {
		l.flushOne(c)
		list[i] = nil
	}
	l.spare = list[:0]
	for i, d := range held {
		d.Release()
		held[i] = nil
	}
	l.heldSpare = held[:0]
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
