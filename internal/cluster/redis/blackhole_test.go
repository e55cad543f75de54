package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
)

// holeProxy forwards TCP connections to a Redis and can turn the pub/sub
// ones (those that sent SUBSCRIBE) into black holes: their sockets stay
// open, every byte either way is read and dropped, as when a NAT or load
// balancer forgets a connection without resetting it.
type holeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*holeConn
}

type holeConn struct {
	sub  bool // sent SUBSCRIBE
	hole bool // drops everything
}

func startHoleProxy(t *testing.T, target string) *holeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holeProxy{ln: ln, target: target}
	var wg sync.WaitGroup
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range open {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			hc := &holeConn{}
			p.mu.Lock()
			p.conns = append(p.conns, hc)
			open = append(open, c, u)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(hc, c, u, true) }()
			go func() { defer wg.Done(); p.pipe(hc, u, c, false) }()
		}
	}()
	return p
}

func (p *holeProxy) pipe(hc *holeConn, from, to net.Conn, up bool) {
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if up && bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
				hc.sub = true
			}
			hole := hc.hole
			p.mu.Unlock()
			if !hole {
				if _, err := to.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// holeSubscribers black-holes the pub/sub connections open now.
func (p *holeProxy) holeSubscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if c.sub {
			c.hole = true
			n++
		}
	}
	return n
}

// freshSubscribers counts the pub/sub connections opened since the last
// holeSubscribers.
func (p *holeProxy) freshSubscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if c.sub && !c.hole {
			n++
		}
	}
	return n
}

func (p *holeProxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

// A pub/sub connection that silently stops carrying anything (its commands
// connection still fine) is noticed by its missing pongs: the node turns
// unready, opens a new connection, subscribes its channels again and
// receives again, without a duplicate.
func TestBlackHoledPubSubIsReplaced(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHoleProxy(t, opts.Addr)
	prefix := testPrefix(t, url)
	var ra, rb clustertest.Recorder
	a := startEngine(t, proxy.url(), prefix, ra.Handle)
	b := startEngine(t, url, prefix, rb.Handle)
	if err := a.Listen("app", "bh"); err != nil {
		t.Fatal(err)
	}
	got := func(data string) func() error {
		return func() error {
			if n := len(ra.Messages(func(m cluster.Message) bool { return m.Data == data })); n != 1 {
				return fmt.Errorf("%d deliveries of %s on a", n, data)
			}
			return nil
		}
	}
	ctx := context.Background()
	if err := b.Publish(ctx, cluster.Message{AppID: "app", Channel: "bh", Event: "e", Data: "before"}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 5*time.Second, got("before"))

	if n := proxy.holeSubscribers(); n != 1 {
		t.Fatalf("%d pub/sub connections through the proxy, want 1", n)
	}
	holed := time.Now()
	// Noticed after the pong bound (3 health intervals + the call timeout)
	// and an unanswered fresh ping: ~5 s alone. The node is unready until it
	// has subscribed again on a new connection, which can take only a few
	// milliseconds, so what is waited for is the lasting evidence: a new
	// pub/sub connection, then deliveries again.
	clustertest.WaitFor(t, 20*time.Second, func() error {
		if n := proxy.freshSubscribers(); n < 1 {
			return fmt.Errorf("no new pub/sub connection (a ready: %v)", a.Ready())
		}
		return nil
	})
	t.Logf("replaced %s after the pub/sub connection went silent", time.Since(holed).Round(100*time.Millisecond))
	clustertest.WaitFor(t, 10*time.Second, a.Ready)
	i := 0
	after := func(m cluster.Message) bool { return strings.HasPrefix(m.Data, "after-") }
	clustertest.WaitFor(t, 5*time.Second, func() error {
		i++
		if err := b.Publish(ctx, cluster.Message{AppID: "app", Channel: "bh", Event: "e", Data: fmt.Sprint("after-", i)}); err != nil {
			return err
		}
		if len(ra.Messages(after)) == 0 {
			time.Sleep(20 * time.Millisecond)
			return errors.New("nothing published after the replacement reached a")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range ra.Messages(after) {
		if seen[m.Data]++; seen[m.Data] > 1 {
			t.Fatalf("%s delivered twice on a", m.Data)
		}
	}
	if err := got("before")(); err != nil {
		t.Fatal(err)
	}
}

// A pub/sub connection that Redis closes (CLIENT KILL here; in production
// client-output-buffer-limit, a proxy or failover reset) is replaced by its
// receive loop at once, not at the health loop's next tick: what other
// nodes publish meanwhile is lost to this node. The health loop runs every
// 30 s here, so only that path can subscribe again within the wait.
func TestPubSubResubscribesAtOnce(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	prefix := testPrefix(t, rs.url())
	var ra, rb clustertest.Recorder
	a, err := redis.New(redis.Options{URL: rs.url(), KeyPrefix: prefix, LeaseTTL: time.Minute, Interval: 30 * time.Second}, ra.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	clustertest.WaitFor(t, 10*time.Second, a.Ready)
	b := startEngine(t, rs.url(), prefix, rb.Handle)
	if err := a.Listen("app", "rs"); err != nil {
		t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(rs.url())
	admin := goredis.NewClient(opts)
	defer admin.Close()
	ctx := context.Background()
	if n, err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Int(); err != nil || n < 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d %v", n, err)
	}
	i := 0
	clustertest.WaitFor(t, 5*time.Second, func() error {
		i++
		_ = b.Publish(ctx, cluster.Message{AppID: "app", Channel: "rs", Event: "e", Data: fmt.Sprint("after-", i)})
		if len(ra.Messages(func(m cluster.Message) bool { return strings.HasPrefix(m.Data, "after-") })) == 0 {
			time.Sleep(20 * time.Millisecond)
			return errors.New("nothing published after the kill reached a")
		}
		return nil
	})
	if err := a.Ready(); err != nil {
		t.Fatalf("a after resubscribing: %v", err)
	}
}
