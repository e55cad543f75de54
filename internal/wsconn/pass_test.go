package wsconn

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/hub"
)

// startPassTransport runs a Transport whose REST requests (Direct) publish
// their body as event "rest" to channel "c" and answer 200 {}.
func startPassTransport(t *testing.T, ho hub.Options, mutate func(*Options)) (*Transport, *hub.Hub, string) {
	t.Helper()
	h, err := hub.New(ho, func(hd cluster.Handler) (cluster.Engine, error) { return memory.New(hd), nil })
	if err != nil {
		t.Fatal(err)
	}
	reg := apps.NewRegistry([]*apps.App{{ID: "app-id", Key: "app-key", Secret: "app-secret", Settings: apps.Defaults()}})
	opts := Options{Hub: h, Apps: reg, EventLoops: 2}
	opts.Direct = func(ctx context.Context, _, _, _ string, body []byte) (int, http.Header, []byte) {
		if len(body) > 0 {
			if err := h.Publish(ctx, "app-id", []string{"c"}, "rest", string(body), ""); err != nil {
				return http.StatusInternalServerError, nil, []byte(`{}`)
			}
		}
		return http.StatusOK, nil, []byte(`{}`)
	}
	if mutate != nil {
		mutate(&opts)
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tr.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = tr.Close(); _ = h.Engine().Close() })
	return tr, h, ln.Addr().String()
}

// subscribers dials n raw clients subscribed to channel "c".
func subscribers(t *testing.T, addr string, n int) []*rawWS {
	t.Helper()
	ws := make([]*rawWS, n)
	for i := range ws {
		ws[i] = dialRaw(t, addr)
		_ = ws[i].nc.SetDeadline(time.Now().Add(time.Minute))
		ws[i].write(frame(opTextF, []byte(`{"event":"pusher:subscribe","data":{"channel":"c"}}`)))
		ws[i].expectEvent("pusher_internal:subscription_succeeded")
	}
	return ws
}

// restClient is a keep-alive connection for the loop's REST path.
type restClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialREST(t *testing.T, addr string) *restClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	return &restClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// send writes one POST with body (the event data to publish; empty
// publishes nothing).
func (r *restClient) send(body string) {
	r.t.Helper()
	req := "POST /apps/app-id/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := r.nc.Write([]byte(req)); err != nil {
		r.t.Fatalf("REST write: %v", err)
	}
}

// answer reads one response and checks it is 200.
func (r *restClient) answer() error {
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("REST status %d", resp.StatusCode)
	}
	return nil
}

// readSeqs reads events from w until it has n of each name in names, and
// checks each name's data counts 0, 1, 2, … with no gap or repeat.
func readSeqs(w *rawWS, n int, names ...string) error {
	next := make(map[string]int, len(names))
	for _, name := range names {
		next[name] = 0
	}
	left := n * len(names)
	for left > 0 {
		op, p, err := w.readFrame()
		if err != nil {
			return fmt.Errorf("socket %s: %v (still expecting %v)", w.socketID, err, next)
		}
		if op != opText {
			continue
		}
		name, data := eventOf(p)
		want, ok := next[name]
		if !ok {
			continue // subscription counts and the like
		}
		if data != strconv.Itoa(want) {
			return fmt.Errorf("socket %s: %s event %q, want %d (lost, duplicated or out of order)", w.socketID, name, data, want)
		}
		next[name] = want + 1
		left--
	}
	return nil
}

func eventOf(p []byte) (name, data string) {
	var e struct{ Event, Data string }
	if err := json.Unmarshal(p, &e); err != nil {
		return "", ""
	}
	return e.Event, e.Data
}

// Passes over more connections than sweepChunk, fed by a publisher on the
// loops (REST answered there, Direct) and one off them at the same time:
// every subscriber gets every event of each publisher once, in that
// publisher's order, with fan-outs made by the publisher and by the hub's
// shard goroutine.
func TestLongPassesDeliverEveryEventInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		async int
	}{{"fan-out by the publisher", 0}, {"fan-out by the shard goroutine", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			tr, h, addr := startPassTransport(t, hub.Options{AsyncFanout: tc.async}, nil)
			const subs, events = 5*sweepChunk + 7, 60
			ws := subscribers(t, addr, subs)
			errs := make(chan error, subs+2)
			var wg sync.WaitGroup
			for _, w := range ws {
				wg.Go(func() { errs <- readSeqs(w, events, "rest", "direct") })
			}
			rc := dialREST(t, addr)
			wg.Go(func() {
				for i := range events {
					rc.send(strconv.Itoa(i))
					if err := rc.answer(); err != nil {
						errs <- err
						return
					}
				}
			})
			wg.Go(func() {
				for i := range events {
					if err := h.Publish(context.Background(), "app-id", []string{"c"}, "direct", strconv.Itoa(i), ""); err != nil {
						errs <- err
						return
					}
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if !anyKickReady(t, tr) {
				t.Fatal("no loop made its kicker: no pass was longer than sweepChunk")
			}
		})
	}
}

// anyKickReady reports whether some loop's kicker is ready, asked on the
// loops themselves (the state is loop-owned).
func anyKickReady(t *testing.T, tr *Transport) bool {
	t.Helper()
	ready := false
	tr.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		done := make(chan bool, 1)
		if err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done <- l.kick.state == kickReady
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		ready = ready || <-done
		return true
	})
	return ready
}

// A REST request that arrives while its loop writes a long pass is answered
// before the pass ends: between two chunks of sweepChunk connections the
// loop yields to epoll. The test stops the loop inside the pass's first
// write until the request is in the socket, then reads the order of the
// loop's callbacks; no clock is involved.
func TestLongPassYieldsToREST(t *testing.T) {
	var mu sync.Mutex
	var calls []string // "flush" and "rest", in the loop's order, once armed
	armed, stop, resume := false, make(chan struct{}), make(chan struct{})
	hook := func(where, socketID string) {
		mu.Lock()
		defer mu.Unlock()
		if !armed {
			return
		}
		switch {
		case where == "flush":
			if len(calls) == 0 {
				mu.Unlock()
				stop <- struct{}{} // the test writes the REST request now
				<-resume
				mu.Lock()
			}
			calls = append(calls, "flush")
		case where == "traffic" && socketID == "":
			calls = append(calls, "rest")
		}
	}
	tr, h, addr := startPassTransport(t, hub.Options{}, func(o *Options) {
		o.EventLoops = 1
		o.testHook = hook
	})
	const subs = 4*sweepChunk + 3
	ws := subscribers(t, addr, subs)
	rc := dialREST(t, addr)
	rc.send("") // a REST connection of the loop from now on
	if err := rc.answer(); err != nil {
		t.Fatal(err)
	}
	publish := func(seq int) {
		t.Helper()
		if err := h.Publish(context.Background(), "app-id", []string{"c"}, "direct", strconv.Itoa(seq), ""); err != nil {
			t.Fatal(err)
		}
	}
	// A first long pass makes the loop's kicker.
	publish(0)
	for _, w := range ws {
		w.expectEvent("direct")
	}
	pixiuWait(t, func() bool { return anyKickReady(t, tr) })

	mu.Lock()
	armed = true
	mu.Unlock()
	publish(1)
	<-stop
	rc.send("")
	close(resume)
	if err := rc.answer(); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		w.expectEvent("direct")
	}
	mu.Lock()
	defer mu.Unlock()
	before, after, rest := 0, 0, false
	for _, c := range calls {
		switch {
		case c == "rest":
			rest = true
		case rest:
			after++
		default:
			before++
		}
	}
	if !rest || before+after < subs {
		t.Fatalf("REST answered: %v; flushes before it %d, after %d; want all %d", rest, before, after, subs)
	}
	if after == 0 || before > 2*sweepChunk {
		t.Fatalf("REST answered after %d of the pass's %d flushes; want it within the first chunks", before, before+after)
	}
}

// pixiuWait polls cond (not a timing assertion: it fails only if cond never
// holds within a minute).
func pixiuWait(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
