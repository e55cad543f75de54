package wsconn

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loop batches writes for the connections of one gnet event loop: Send marks
// a connection dirty and schedules at most one flush task per loop pass; the
// task writes each dirty connection once, however many frames it gathered.
type loop struct {
	el    gnet.EventLoop
	flush gnet.RunnableFunc

	mu        sync.Mutex
	dirty     []*conn // guarded by mu
	scheduled bool    // guarded by mu
	// current is the connection whose input the loop is handling (see
	// traffic), currentDirty whether it was sent something meanwhile.
	// Guarded by mu.
	current      *conn
	currentDirty bool

	spare []*conn // loop-owned: the previous dirty slice, reused

	// Loop-owned: connections with outbound bytes waiting (outbound.go).
	watched    []*conn
	watchSpare []*conn
	timerArmed bool
	timer      *time.Timer   // runs checkWatched on the loop
	iov        [][]byte      // scratch for conn.handOver
	hs         *upgradeState // scratch for handshakes, made on first use
}

func newLoop(el gnet.EventLoop) *loop {
	l := &loop{el: el}
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
	list := l.dirty
	l.dirty = l.spare
	l.scheduled = false
	l.mu.Unlock()
	for i, c := range list {
		l.flushOne(c)
		list[i] = nil
	}
	l.spare = list[:0]
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
