package loadgen

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

func int64Figure(t *testing.T, r *report, name string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(fmt.Sprint(figure(t, r, name)), &n); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// A server that pings nobody and closes a connection it has heard nothing
// from (soketi closes with 4201 after 120 s): idle subscribers stay open
// because the tool pings after the server's activity_timeout of silence, as
// pusher-js does.
func TestIdleSubscribersPingASilentServer(t *testing.T) {
	t.Parallel()
	s := startFakeServer(t)
	s.activity = 1                         // the tool pings after 1 s of silence ...
	s.closeQuiet = 3500 * time.Millisecond // ... and the server would close after 3.5 s
	const conns = 20
	r, err := runIdle(context.Background(), fakeOptions(t, s), idleOptions{Conns: conns, Channels: 2, Settle: time.Millisecond, Hold: 5 * time.Second})
	checkOK(t, r, err)
	wantFigure(t, r, "closed_by_server", 0)
	if q := s.quietClose.Load(); q != 0 {
		t.Errorf("the server closed %d quiet connections", q)
	}
	if p := s.pingEvents.Load(); p < conns {
		t.Errorf("the server got %d pusher:ping from %d idle connections in 5 s, want one each at least", p, conns)
	}
	if got, sent := int64Figure(t, r, "pongs_received"), int64Figure(t, r, "pings_sent"); got < conns || sent < got {
		t.Errorf("pings_sent %d, pongs_received %d, want ≥ %d received", sent, got, conns)
	}
	wantFigure(t, r, "pings_unanswered", 0)
}

// The tool answers a server's pusher:ping with pusher:pong and a WebSocket
// ping frame with a pong frame.
func TestIdleSubscribersAnswerServerPings(t *testing.T) {
	t.Parallel()
	s := startFakeServer(t)
	s.pingAfter = 100 * time.Millisecond
	const conns = 10
	r, err := runIdle(context.Background(), fakeOptions(t, s), idleOptions{Conns: conns, Settle: time.Millisecond, Hold: 200 * time.Millisecond})
	checkOK(t, r, err)
	deadline := time.Now().Add(10 * time.Second)
	for (s.pongEvents.Load() < conns || s.pongFrames.Load() < conns) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e, f := s.pongEvents.Load(), s.pongFrames.Load(); e != conns || f != conns {
		t.Errorf("server got %d pusher:pong and %d pong frames, want %d each", e, f, conns)
	}
}

// Against the real server with a 1 s activity timeout and a 1 s pong
// timeout: nothing is closed over a hold of several timeouts, and pings
// went one way or the other.
func TestIdleAgainstPixiuWithShortActivityTimeout(t *testing.T) {
	t.Parallel()
	srv := pixiutest.Start(t, func(c *config.Config) {
		c.ActivityTimeout = config.Duration(time.Second)
		c.PongTimeout = config.Duration(time.Second)
	})
	tg, err := ResolveTarget(context.Background(), "ws://"+srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	o := runOptions{Target: tg, ServerPID: os.Getpid(), Loops: 2, DialWorkers: 8,
		ConnectTimeout: 5 * time.Second, SetupTimeout: 30 * time.Second}
	const conns = 30
	r, err := runIdle(context.Background(), o, idleOptions{Conns: conns, Channels: 3, Settle: time.Millisecond, Hold: 5 * time.Second})
	checkOK(t, r, err)
	wantFigure(t, r, "closed_by_server", 0)
	wantFigure(t, r, "open_at_end", conns)
	wantFigure(t, r, "pings_unanswered", 0)
	pings := int64Figure(t, r, "pongs_received") + int64Figure(t, r, "server_pings_answered")
	if pings < conns {
		t.Errorf("%d pongs received + server pings answered over 5 s of 1 s timeouts, want ≥ %d", pings, conns)
	}
}
