package wsconn

import (
	"context"
	"net"
	"os"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Yielding to epoll in the middle of a pass (loop.run).
//
// gnet runs every task queued with EventLoop.Execute - those queued by a
// running task included - before it polls its sockets again, so a pass
// cannot let the loop read its sockets by queueing its own continuation.
// Each loop therefore gets a kicker once one of its passes is longer than
// sweepChunk: a Unix socket pair (two descriptors, kept for the process's
// life) whose one end is enrolled on that loop like a connection. Writing
// one byte to the other end makes the loop's next epoll_wait return it,
// together with every other socket that has input; its OnTraffic continues
// the pass. Until the kicker is ready (or if it could not be made) a pass
// continues through Execute, i.e. without yielding, as every pass did
// before.

// kicker states.
const (
	kickNone    = iota // not made yet
	kickPending        // enrolled, not opened on the loop yet
	kickReady          // fd wakes the loop
	kickFailed         // could not be made or closed: continue through Execute
)

// kicker is a loop's wake-up socket. Loop-owned.
type kicker struct {
	state int
	fd    int  // the end written to wake the loop (kickPending, kickReady)
	armed bool // a byte was written and not read yet
}

// kickConn is the gnet context of a loop's kicker socket.
type kickConn struct{ l *loop }

// yield makes the loop run the pass again after its next epoll_wait. A
// pass longer than sweepChunk (mid) makes the loop's kicker if it has none
// yet; until then, and for a loop whose passes never were, the pass goes on
// through Execute. Loop only.
func (l *loop) yield(mid bool) {
	k := &l.kick
	if k.state == kickNone && mid {
		l.startKick()
	}
	if k.state == kickReady {
		if k.armed {
			return
		}
		if _, err := unix.Write(k.fd, []byte{1}); err == nil {
			k.armed = true
			return
		}
	}
	// The loop is shutting down if this fails; its connections go with it.
	_ = l.el.Execute(context.Background(), l.flush)
}

// startKick makes the loop's socket pair and enrolls one end on the loop;
// its OnOpen (kickConn.opened) makes it ready. Loop only.
func (l *loop) startKick() {
	k := &l.kick
	k.state = kickFailed
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fds[0]), "kick")
	nc, err := net.FileConn(f) // a duplicate; gnet duplicates it again and closes nc
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		return
	}
	res, err := l.el.Enroll(gnet.NewContext(context.Background(), &kickConn{l: l}), nc)
	if err != nil {
		_ = nc.Close()
		_ = unix.Close(fds[1])
		return
	}
	k.state, k.fd = kickPending, fds[1]
	go func() {
		select {
		case r := <-res:
			if r.Err != nil {
				// Never opened on the loop: the loop does not write fd
				// while the state is pending, so it can go.
				_ = unix.Close(fds[1])
			}
		case <-l.stop: // the engine is stopping; the result may never come
		}
	}()
}

// opened is the kicker's OnOpen. Loop only.
func (k *kickConn) opened() {
	if k.l.kick.state == kickPending {
		k.l.kick.state = kickReady
	}
}

// traffic is the kicker's OnTraffic: the pass goes on. Loop only.
func (k *kickConn) traffic(gc gnet.Conn) {
	_, _ = gc.Discard(-1)
	k.l.kick.armed = false
	_ = k.l.run(context.Background())
}

// closed is the kicker's OnClose: yields go through Execute from now on,
// and a pass that was waiting for the kicker continues that way. Loop only.
func (k *kickConn) closed() {
	l := k.l
	wasArmed := l.kick.armed
	if l.kick.state == kickReady || l.kick.state == kickPending {
		_ = unix.Close(l.kick.fd)
	}
	l.kick = kicker{state: kickFailed}
	if wasArmed || l.inPass {
		_ = l.el.Execute(context.Background(), l.flush)
	}
}
