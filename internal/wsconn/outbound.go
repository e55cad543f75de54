package wsconn

import (
	"cmp"
	"context"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Outbound bytes held in user space are bounded twice: per connection by
// MaxPendingBytes, counting the frames in the connection's own pending
// buffer (conn.out) and what gnet still holds for the socket once, and
// server-wide by MaxOutboundBytes, summed over all connections in
// Transport.outbound, which counts the memory of conn.out's chunks (their
// capacity) so that the budget bounds memory, not just frame bytes. Past
// the budget the connections holding the most are closed with 4100 first.
//
// Bytes are held in one place: the loop hands conn.out to gnet, writeBatch
// bytes at a time, only while gnet's own buffer for the socket is empty,
// i.e. while the kernel takes what it is given; so gnet holds at most one
// batch for a peer that stopped reading. A connection with bytes waiting (in out or
// in gnet) is watched by its loop, which re-checks it on a timer with a
// back-off while its peer makes no progress; that check also refreshes the
// connection's share of the budget.
const (
	writeBatch = 16 << 10 // most bytes handed to gnet at once

	watchTick      = 5 * time.Millisecond   // loop timer while something is watched
	watchMaxBack   = 160 * time.Millisecond // longest pause between checks of a stalled peer
	budgetCooldown = 5 * time.Millisecond   // least time between two budget scans

	// closeFlushTimeout bounds how long a closed connection's last frames
	// (pusher:error, close) may wait for a peer that does not read.
	closeFlushTimeout = time.Second
)

// isClosed reports whether the close frame was written or the socket closed.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// writeOut hands conn.out to gnet in batches of writeBatch bytes while
// gnet's buffer for the socket is empty (all of it at once if all is set), refreshes the connection's share of the budget, and watches
// the connection while bytes remain. Loop only.
func (c *conn) writeOut(all bool) {
	limit := writeBatch
	if all {
		limit = math.MaxInt
	}
	for all || c.gc.OutboundBuffered() == 0 {
		n, rest, before := c.handOver(limit)
		if n == 0 || all {
			break
		}
		if rest == 0 {
			if before == 0 && c.gc.OutboundBuffered() == 0 {
				// The common case: the kernel took it all, as it did last
				// time; nothing is held, no lock needed to say so.
				if c.held.Load() != 0 {
					c.account(0)
				}
				return
			}
			break
		}
	}
	inGnet := c.gc.OutboundBuffered()
	c.mu.Lock()
	if c.closed { // a write failed: OnClose settled the count
		c.mu.Unlock()
		return
	}
	c.inGnet = int32(inGnet)
	held := c.out.mem + inGnet
	c.mu.Unlock()
	c.account(held)
	if held > 0 {
		c.loop.watch(c)
	}
}

// handOver moves chunks from the front of conn.out to gnet, at least one and
// then up to limit bytes. gnet writes them at once and keeps what the
// kernel does not take. It returns the bytes moved, the bytes left in
// conn.out, and conn.inGnet as it was. Loop only.
func (c *conn) handOver(limit int) (n, rest int, inGnet int32) {
	l := c.loop
	c.mu.Lock()
	iov, n := c.out.take(l.iov[:0], limit)
	rest, inGnet = c.out.n, c.inGnet
	c.mu.Unlock()
	if n == 0 {
		return 0, rest, inGnet
	}
	l.bytes.out[kindWebSocket].Add(int64(n))
	if len(iov) == 1 {
		_, _ = c.gc.Write(iov[0]) // may close the socket (OnClose runs inside)
	} else {
		_, _ = c.gc.Writev(iov)
	}
	for i, b := range iov {
		putChunk(b)
		iov[i] = nil
	}
	l.iov = iov[:0]
	return n, rest, inGnet
}

// closeAfterFlush closes the socket now if gnet has sent everything, else
// once it has or closeFlushTimeout passed. Loop only; c.closed is set.
func (c *conn) closeAfterFlush() {
	n := c.gc.OutboundBuffered()
	if n == 0 {
		c.account(0)
		_ = c.gc.Close()
		return
	}
	c.account(n)
	r := c.r()
	r.closeBy = time.Now().Add(closeFlushTimeout).UnixNano()
	r.checkAt = 0
	c.loop.watch(c)
}

// check is the watch timer's visit of c; it reports whether c stays
// watched. Loop only.
func (c *conn) check(now int64) bool {
	r := c.r()
	if now < r.checkAt {
		return true
	}
	c.mu.Lock()
	closed, out := c.closed, c.out.mem
	c.mu.Unlock()
	if closed {
		if r.closeBy == 0 {
			return false // closed by another path; OnClose settled the count
		}
		n := c.gc.OutboundBuffered()
		if n == 0 || now >= r.closeBy {
			r.closeBy = 0
			c.account(0)
			_ = c.gc.Close()
			return false
		}
		c.account(n)
		return true
	}
	held := out + c.gc.OutboundBuffered()
	if held < r.lastHeld || r.backoff == 0 {
		r.backoff = int64(watchTick)
	} else {
		r.backoff = min(2*r.backoff, int64(watchMaxBack))
	}
	r.lastHeld = held
	r.checkAt = now + r.backoff
	c.writeOut(false) // re-watches c if bytes remain
	return false
}

// account sets c's share of the budget to n bytes and asks for a budget scan
// if the total went over it. Loop only.
func (c *conn) account(n int) {
	if c.held.Load() == int64(n) {
		return
	}
	d := int64(n) - c.held.Swap(int64(n))
	if total := c.t.outbound.Add(d); d > 0 && total > int64(c.t.opts.MaxOutboundBytes) {
		select {
		case c.t.overBudget <- struct{}{}:
		default:
		}
	}
}

// watch adds c to the loop's watch list and arms the timer. Loop only.
func (l *loop) watch(c *conn) {
	r := c.r()
	if r.watched {
		return
	}
	r.watched = true
	l.watched = append(l.watched, c)
	if !l.timerArmed {
		l.timerArmed = true
		l.timer.Reset(watchTick)
	}
}

// checkWatched visits every watched connection. Runs on the loop.
func (l *loop) checkWatched(context.Context) error {
	l.timerArmed = false
	list := l.watched
	l.watched = l.watchSpare
	now := time.Now().UnixNano()
	for i, c := range list {
		list[i] = nil
		c.rare.watched = false
		if l.checkOne(c, now) {
			l.watch(c)
		}
	}
	l.watchSpare = list[:0]
	return nil
}

// checkOne checks c; a panic closes c alone (and c is no longer watched).
func (l *loop) checkOne(c *conn, now int64) (keep bool) {
	defer c.t.recovered("outbound check", c.gc, nil)
	return c.check(now)
}

// enforceBudget closes the largest holders with 4100 whenever the server's
// outbound bytes exceed MaxOutboundBytes. It runs until stop is closed.
func (t *Transport) enforceBudget() {
	defer close(t.budgetDone)
	var cands []budgetCand
	var rc reclaimer
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			rc.tick(t.outbound.Load())
			continue
		case <-t.overBudget:
		}
		cands = t.shed(cands[:0])
		select {
		case <-t.stop:
			return
		case <-time.After(budgetCooldown):
		}
	}
}

// reclaimer runs a few garbage collections, a second apart, once the
// outbound bytes fell far below a peak. The buffers of closed slow consumers
// are then garbage or idle in pools (which a collection empties in two
// rounds), and the runtime's background scavenger gives pages back to the OS
// only as collections mark them unused: on an idle server, with no
// collection until the runtime's forced one every two minutes, the memory
// would stay. Measured: RSS 320 MB → 34 MB within four collections.
type reclaimer struct {
	peak   int64 // largest outbound bytes seen since the last reclaim
	rounds int   // collections still to run
}

const (
	reclaimMin    = 32 << 20 // smallest peak worth reclaiming
	reclaimRounds = 6        // collections per reclaim, one a second
)

// tick is called every second with the current outbound bytes.
func (r *reclaimer) tick(now int64) {
	r.peak = max(r.peak, now)
	switch {
	case r.rounds > 0:
		r.rounds--
		runtime.GC()
	case r.peak >= reclaimMin && now <= r.peak/8:
		r.peak, r.rounds = now, reclaimRounds-1
		runtime.GC()
	}
}

type budgetCand struct {
	c    *conn
	held int64
}

// shed closes connections, the largest holders first, until the bytes of
// those left open fit the budget. Connections already closing are not
// counted: their bytes are on the way out.
func (t *Transport) shed(cands []budgetCand) []budgetCand {
	budget := int64(t.opts.MaxOutboundBytes)
	if t.outbound.Load() <= budget {
		return cands
	}
	t.regMu.Lock()
	for c := range t.conns {
		if h := c.held.Load(); h > 0 {
			cands = append(cands, budgetCand{c, h})
		}
	}
	t.regMu.Unlock()
	var total int64
	live := cands[:0]
	for _, x := range cands {
		x.c.mu.Lock()
		closing := x.c.closed || x.c.closing != nil
		x.c.mu.Unlock()
		if !closing {
			live = append(live, x)
			total += x.held
		}
	}
	if total <= budget {
		clear(cands)
		return cands[:0]
	}
	slices.SortFunc(live, func(a, b budgetCand) int { return cmp.Compare(b.held, a.held) })
	closed := 0
	var freed int64
	for _, x := range live {
		if total <= budget {
			break
		}
		x.c.Close(protocol.ErrSlowConsumer)
		total -= x.held
		freed += x.held
		closed++
	}
	t.budgetClosed.Add(int64(closed))
	if now := time.Now().UnixNano(); now-t.budgetLogged > int64(10*time.Second) {
		t.budgetLogged = now
		t.log.Warn("outbound budget exceeded: closed the largest holders with 4100",
			"closed", closed, "freed_bytes", freed, "budget_bytes", budget, "closed_total", t.budgetClosed.Load())
	}
	clear(cands)
	return cands[:0]
}

// OutboundBytes returns the outbound bytes held in user space for all
// connections (pending buffers and gnet's), as counted against
// MaxOutboundBytes.
func (t *Transport) OutboundBytes() int64 { return t.outbound.Load() }

// BudgetClosed returns how many connections were closed because the server
// went over MaxOutboundBytes.
func (t *Transport) BudgetClosed() int64 { return t.budgetClosed.Load() }
