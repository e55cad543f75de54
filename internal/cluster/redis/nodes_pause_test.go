package redis_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// A node frozen for longer than its pub/sub staleness bound (3 Intervals +
// OpTimeout, 5 s) but shorter than its lease (SIGSTOP; in production a long
// GC or VM pause, a frozen container) finds, when it resumes, the pongs and
// messages of its healthy pub/sub connection still unread in the socket. It
// must read them rather than declare the connection dead: a connection torn
// down then loses the messages published meanwhile for its own subscribers,
// including those of the publishes it answered 200 as it woke up.
func TestNodesPausedNodeKeepsItsPubSub(t *testing.T) {
	t.Parallel()
	n := startNodes(t, 2, clusterOpts{})
	const ch = "pause-ch"
	subs := []*pixiutest.Client{n[0].dial(), n[1].dial()}
	for _, c := range subs {
		c.Subscribe(ch, "", "", "")
	}

	var mu sync.Mutex
	var accepted []int
	var wg sync.WaitGroup
	publish := func(nd *node, i int) {
		defer wg.Done()
		st, body, err := nd.rest().Send("POST", "/apps/app-id/events", "",
			[]byte(fmt.Sprintf(`{"name":"seq","channels":[%q],"data":"%d"}`, ch, i)))
		switch {
		case err != nil:
			t.Errorf("publish %d: %v", i, err)
		case st == http.StatusOK:
			mu.Lock()
			accepted = append(accepted, i)
			mu.Unlock()
		case st != http.StatusServiceUnavailable:
			t.Errorf("publish %d: %d %s, want 200 or 503", i, st, body)
		}
	}

	if err := n[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	seq := 0
	for range 20 { // wait in n1's accept queue; they run as it resumes
		wg.Add(1)
		go publish(n[0], seq)
		seq++
	}
	for range 10 { // through n2 while n1 sleeps: queued in n1's pub/sub socket
		wg.Add(1)
		publish(n[1], seq)
		seq++
	}
	time.Sleep(6500 * time.Millisecond)
	if err := n[0].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); seq++ {
		wg.Add(1)
		publish(n[0], seq)
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for _, nd := range n {
		nd.waitReady(15 * time.Second)
	}
	n[1].rest().Trigger(t, []string{ch}, "end", "")

	for k, c := range subs {
		got := map[int]int{}
		for {
			e := c.Next()
			if e.Event == "end" {
				break
			}
			if e.Event != "seq" {
				continue
			}
			i, _ := strconv.Atoi(e.DataString())
			got[i]++
		}
		var missing []int
		for _, i := range accepted {
			if got[i] != 1 {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			t.Errorf("subscriber on %s: publishes answered 200 received other than once: %v (%d accepted)", n[k].name, missing, len(accepted))
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d of %d publishes answered 200, each received once on both nodes", len(accepted), seq)
}

// A node SIGKILLed and started again (same node id) while another takes
// publishes: its clients reconnect, subscribe again and recover what they
// missed from the channel history (in Redis, so any node answers), in order
// and once, then receive later publishes once.
func TestNodesRecoverAcrossRestart(t *testing.T) {
	t.Parallel()
	bin, err := buildBin()
	if err != nil {
		t.Fatal(err)
	}
	o := clusterOpts{redisURL: testURL(), mutate: func(c *config.Config) {
		c.Apps[0].History = apps.History{Channels: []string{"hist-"}, MaxEvents: 100, MaxAgeSeconds: 600}
	}}
	n := startNodes(t, 2, o)
	const ch = "hist-restart"
	c := n[1].dial()
	c.Subscribe(ch, "", "", "")
	n[0].rest().Trigger(t, []string{ch}, "e", "0")
	since := c.Expect("e").ID
	if since == "" {
		t.Fatal("event without a history id")
	}

	n[1].kill()
	for i := 1; i <= 5; i++ {
		n[0].rest().Trigger(t, []string{ch}, "e", strconv.Itoa(i))
	}
	b := startNode(t, bin, "n2", n[0].prefix, o)
	b.waitReady(20 * time.Second)
	n[0].rest().Trigger(t, []string{ch}, "e", "6")

	c = b.dial()
	c.Subscribe(ch, "", "", "")
	c.Send("pixiu:recover", ch, map[string]any{"since": since})
	var got []string
	for {
		e := c.Next()
		if e.Event == "pixiu:recovered" {
			break
		}
		if e.Event == "pixiu:recovery_failed" {
			t.Fatalf("recovery failed: %s", e.DataString())
		}
		if e.Event == "e" {
			got = append(got, e.DataString())
		}
	}
	n[0].rest().Trigger(t, []string{ch}, "e", "7")
	got = append(got, expectN(t, c, "e", 1)...)
	if strings.Join(got, ",") != "1,2,3,4,5,6,7" {
		t.Fatalf("after the restart the client got %v, want 1..7 in order, once each", got)
	}
}
