package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// receiver gets the channel events (everything that is not a pusher: or
// pusher_internal: event) of the connections an engine reads. It is called on
// the event loop that owns c, never concurrently for one shard.
type receiver interface {
	onEvent(c *wsConn, name, msg []byte, now int64)
}

// shard holds the counters of one event loop. hist and the wsConns of the
// loop are owned by that loop while the client runs; they may be read only
// after engine.stop returned. The atomics may be read at any time.
type shard struct {
	loop      gnet.EventLoop
	hist      histogram
	delivered atomic.Int64 // unique events received
	dups      atomic.Int64 // events received again by the same connection
	bad       atomic.Int64 // events whose data could not be parsed or had an unknown seq
	other     atomic.Int64 // channel events with another name
	lastRecv  atomic.Int64 // unix nanos of the last unique event
}

// wsConn is the per-connection state; owned by the event loop holding the
// socket (and by the dialling goroutine before enrolment).
type wsConn struct {
	sh         *shard
	subscribed bool
	carry      []byte   // bytes read before enrolment or an incomplete frame kept across a carry
	frag       []byte   // payload of an unfinished fragmented message
	seen       []uint64 // fan-out: bit i set once seq i arrived
	wbuf       []byte
	heard      atomic.Int64 // unix nanos of the last bytes from the server
	pinged     atomic.Int64 // unix nanos of the tool's unanswered pusher:ping; 0 none, -1 counted as missed
	ka         int          // index in keepalive.conns, -1 when not there
}

// engine is a gnet client that reads every enrolled WebSocket connection on a
// few event loops. Connections are dialled, upgraded and subscribed
// synchronously by the caller and then handed over with enroll.
type engine struct {
	gnet.BuiltinEventEngine
	cli  *gnet.Client
	recv receiver // may be nil
	ka   keepalive

	subscribed   atomic.Int64 // connections that got subscription_succeeded
	open         atomic.Int64 // connections currently enrolled
	unexpected   atomic.Int64 // connections closed before stop
	pusherErrors atomic.Int64
	frameErrors  atomic.Int64
	countFrames  atomic.Int64 // pusher_internal:subscription_count frames received
	lastCount    atomic.Int64 // when the last of them came (Unix nanoseconds)
	pongs        atomic.Int64 // pusher:pong events received (answers to the tool's pings)
	serverPings  atomic.Int64 // pusher:ping events and WebSocket pings received (and answered)
	stopping     atomic.Bool

	mu       sync.Mutex
	shards   []*shard // guarded by mu
	firstErr string   // guarded by mu
}

// quietLogger discards gnet's logging, which would otherwise go to stdout and
// corrupt --json output.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}

func newEngine(loops int, recv receiver) (*engine, error) {
	e := &engine{recv: recv}
	cli, err := gnet.NewClient(e,
		gnet.WithNumEventLoop(loops),
		gnet.WithLogger(quietLogger{}),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReadBufferCap(64<<10),
		gnet.WithWriteBufferCap(4<<10),
	)
	if err != nil {
		return nil, fmt.Errorf("gnet client: %w", err)
	}
	if err := cli.Start(); err != nil {
		return nil, fmt.Errorf("gnet client: %w", err)
	}
	e.cli = cli
	e.ka.start()
	return e, nil
}

// enroll hands a connected, upgraded socket to the event loops; nc is closed
// (gnet keeps a duplicate of its descriptor).
func (e *engine) enroll(nc net.Conn, wc *wsConn) error {
	if tc, ok := nc.(*tls.Conn); ok {
		plain, err := tlsRelay(tc)
		if err != nil {
			_ = tc.Close()
			return fmt.Errorf("enroll: %w", err)
		}
		nc = plain
	}
	if _, err := e.cli.EnrollContext(nc, wc); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	return nil
}

// stop closes every connection and waits for the event loops to exit. After
// it returns the shards may be read.
func (e *engine) stop() {
	e.stopping.Store(true)
	e.ka.close()
	_ = e.cli.Stop()
}

func (e *engine) allShards() []*shard {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*shard(nil), e.shards...)
}

func (e *engine) shardFor(l gnet.EventLoop) *shard {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.shards {
		if s.loop == l {
			return s
		}
	}
	s := &shard{loop: l}
	e.shards = append(e.shards, s)
	return s
}

func (e *engine) noteError(msg string) {
	e.mu.Lock()
	if e.firstErr == "" {
		e.firstErr = msg
	}
	e.mu.Unlock()
}

func (e *engine) firstError() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firstErr
}

// OnOpen runs on the loop that now owns c.
func (e *engine) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	wc := c.Context().(*wsConn)
	wc.sh = e.shardFor(c.EventLoop())
	e.open.Add(1)
	wc.heardAt(time.Now().UnixNano())
	e.ka.add(c, wc)
	if len(wc.carry) > 0 {
		return nil, e.consumeCarry(c, wc)
	}
	return nil, gnet.None
}

// OnClose counts connections the server closed before stop.
func (e *engine) OnClose(c gnet.Conn, err error) gnet.Action {
	e.open.Add(-1)
	e.ka.remove(c.Context().(*wsConn))
	if !e.stopping.Load() {
		e.unexpected.Add(1)
		if err != nil {
			e.noteError("connection closed by server: " + err.Error())
		} else {
			e.noteError("connection closed")
		}
	}
	return gnet.None
}

// OnTraffic parses every complete frame in the inbound buffer and leaves a
// trailing partial frame there for the next read.
func (e *engine) OnTraffic(c gnet.Conn) gnet.Action {
	wc := c.Context().(*wsConn)
	buf, _ := c.Peek(-1)
	wc.heardAt(time.Now().UnixNano())
	if len(wc.carry) > 0 {
		wc.carry = append(wc.carry, buf...)
		_, _ = c.Discard(len(buf))
		return e.consumeCarry(c, wc)
	}
	n, act := e.consume(c, wc, buf)
	if n > 0 {
		_, _ = c.Discard(n)
	}
	return act
}

// consumeCarry is the slow path for bytes that do not live in gnet's buffer.
func (e *engine) consumeCarry(c gnet.Conn, wc *wsConn) gnet.Action {
	n, act := e.consume(c, wc, wc.carry)
	wc.carry = append(wc.carry[:0], wc.carry[n:]...)
	if len(wc.carry) == 0 {
		wc.carry = nil
	}
	return act
}

func (e *engine) consume(c gnet.Conn, wc *wsConn, buf []byte) (int, gnet.Action) {
	now := time.Now().UnixNano()
	off := 0
	for off < len(buf) {
		f, n, err := parseFrame(buf[off:])
		if errors.Is(err, errShortFrame) {
			break
		}
		if err != nil {
			e.frameErrors.Add(1)
			e.noteError("bad frame from server")
			return off, gnet.Close
		}
		off += n
		switch f.op {
		case opText, opBinary, opContinuation:
			if !f.fin || f.op == opContinuation {
				wc.frag = append(wc.frag, f.payload...)
				if !f.fin {
					continue
				}
				f.payload, wc.frag = wc.frag, nil
			}
			e.message(c, wc, f.payload, now)
		case opPing:
			e.serverPings.Add(1)
			e.write(c, wc, opPong, f.payload)
		case opClose:
			if !e.stopping.Load() {
				e.noteError("server sent close: " + closeReason(f.payload))
			}
			e.write(c, wc, opClose, f.payload[:min(len(f.payload), 2)])
			return off, gnet.Close
		}
	}
	return off, gnet.None
}

func (e *engine) message(c gnet.Conn, wc *wsConn, msg []byte, now int64) {
	name := jsonField(msg, "event")
	switch {
	case bytes.HasPrefix(name, []byte("pusher")):
		switch {
		case bytes.Equal(name, evSubscribed):
			if !wc.subscribed {
				wc.subscribed = true
				e.subscribed.Add(1)
			}
		case bytes.Equal(name, evError):
			e.pusherErrors.Add(1)
			e.noteError(fmt.Sprintf("pusher:error: %.200s", msg))
		case bytes.Equal(name, evPing):
			e.serverPings.Add(1)
			e.write(c, wc, opText, pongMessage)
		case bytes.Equal(name, evPong):
			e.pongs.Add(1)
		case bytes.Equal(name, evSubscriptionCount):
			e.countFrames.Add(1)
			e.lastCount.Store(now)
		}
	case e.recv != nil:
		e.recv.onEvent(wc, name, msg, now)
	}
}

func (e *engine) write(c gnet.Conn, wc *wsConn, op byte, payload []byte) {
	wc.wbuf = appendClientFrame(wc.wbuf[:0], op, payload)
	_, _ = c.Write(wc.wbuf)
}

// connectAll opens n connections with `workers` dialling goroutines. Each
// connection is upgraded, gets connection_established, sends a subscribe to
// channel(i) and is enrolled; subscription_succeeded is then counted by the
// loops. prepare, if set, initialises each wsConn before enrolment. It returns
// the number of connections enrolled and the dial errors. Connection i goes to
// ds[i%len(ds)] (the nodes of a cluster).
func (e *engine) connectAll(ctx context.Context, ds []*dialer, n, workers int, channel func(int) string, prepare func(*wsConn)) (int, []error) {
	var (
		next     atomic.Int64
		enrolled atomic.Int64
		mu       sync.Mutex
		errs     []error
		wg       sync.WaitGroup
	)
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			ss := make([]*session, len(ds))
			for j, d := range ds {
				ss[j] = newSession(d)
			}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := e.connectOne(ctx, ss[i%len(ss)], channel(i), prepare); err != nil {
					mu.Lock()
					if errs = append(errs, err); len(errs) > max(n/100, 10) {
						next.Store(int64(n)) // too many failures: stop dialling
					}
					mu.Unlock()
					continue
				}
				enrolled.Add(1)
			}
		})
	}
	wg.Wait()
	return int(enrolled.Load()), errs
}

func (e *engine) connectOne(ctx context.Context, s *session, channel string, prepare func(*wsConn)) error {
	if err := s.open(ctx); err != nil {
		return err
	}
	if sec, ok := jsonNumber(s.buf, "activity_timeout"); ok {
		e.ka.setActivity(sec)
	}
	if err := s.write(opText, subscribeMessage(channel)); err != nil {
		s.abort()
		return err
	}
	wc := &wsConn{carry: s.leftover(), ka: -1}
	if prepare != nil {
		prepare(wc)
	}
	_ = s.conn.SetDeadline(time.Time{})
	nc := s.conn
	s.release()
	return e.enroll(nc, wc)
}

// waitSubscribed polls until want connections are subscribed, the engine saw
// an error that makes it impossible, or the timeout passes.
func (e *engine) waitSubscribed(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := int(e.subscribed.Load())
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d connections subscribed after %v (%s)", got, want, timeout, e.firstError())
		}
		if int(e.subscribed.Load())+int(e.unexpected.Load())+int(e.pusherErrors.Load()) >= want && e.unexpected.Load()+e.pusherErrors.Load() > 0 {
			return fmt.Errorf("%d of %d connections subscribed; %d closed, %d pusher:error (%s)",
				got, want, e.unexpected.Load(), e.pusherErrors.Load(), e.firstError())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
