package wsconn

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 15s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPanicClosesOneConnection injects a panic into each recovered callback
// for one victim connection at a time, on the loop every connection shares:
// the victim is closed, the process lives, a bystander keeps working and new
// connections are accepted.
func TestPanicClosesOneConnection(t *testing.T) {
	t.Parallel()
	var (
		victim    sync.Map    // socket id → the callback that panics for it
		openArmed atomic.Bool // the next OnOpen panics
	)
	hook := func(where, socketID string) {
		if where == "open" && openArmed.CompareAndSwap(true, false) {
			panic("injected panic in open")
		}
		if v, ok := victim.Load(socketID); ok && v == where {
			panic("injected panic in " + where)
		}
	}
	logs := &logBuf{}
	tr, addr := startTransport(t, func(o *Options) {
		o.testHook = hook
		o.EventLoops = 1 // one loop for victims and bystander alike
		o.ActivityTimeout = time.Second
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	bystander := dialRaw(t, addr)
	bystander.alive()
	panics := func() int { return logs.count("panic in a connection callback") }

	// OnOpen: the accepted socket is closed before any answer.
	openArmed.Store(true)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("open victim: read %d, %v", n, err)
	}
	nc.Close()
	bystander.alive()

	for i, where := range []string{"traffic", "flush", "sweep", "close"} {
		w := dialRaw(t, addr)
		victim.Store(w.socketID, where)
		switch where {
		case "traffic", "flush": // the ping's frame, then its pong
			w.write(frame(opTextF, pingMsg))
		case "close":
			w.write(closeFrame(1000, ""))
		} // sweep: the sweeper reaches it within a second
		var err error
		for err == nil {
			_, _, err = w.readFrame()
		}
		if err != io.EOF && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("%s victim: %v", where, err)
		}
		waitUntil(t, fmt.Sprintf("%d panics logged", i+2), func() bool { return panics() == i+2 })
		waitUntil(t, where+" victim unregistered", func() bool { return tr.ConnectionCount() == 1 })
		bystander.alive()
	}
	dialRaw(t, addr).alive()
	if !strings.Contains(logs.String(), "injected panic in sweep") {
		t.Fatalf("log:\n%s", logs)
	}
}

// TestClientWarningsRateLimited: many clients' protocol violations log at
// most LogLimit lines per interval, then one summary with the count.
func TestClientWarningsRateLimited(t *testing.T) {
	t.Parallel()
	logs := &logBuf{}
	_, addr := startTransport(t, func(o *Options) {
		o.LogLimit = 3
		o.LogInterval = 3 * time.Second // 20 bad clients fit in one window even on a loaded machine
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	const bad = "websocket protocol violation"
	for i := 0; i < 20; i++ {
		w := dialRaw(t, addr)
		w.write(frame(fin|5, nil)) // a reserved opcode
		w.expectClose(1002)
	}
	if n := logs.count(bad); n != 3 {
		t.Fatalf("%d lines logged, want 3:\n%s", n, logs)
	}
	waitUntil(t, "the summary", func() bool {
		return logs.count(`msg="log lines suppressed" component=wsconn kind="`+bad) == 1 && logs.count("suppressed=17") == 1
	})
}
