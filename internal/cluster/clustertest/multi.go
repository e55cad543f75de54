package clustertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// A publish on one node reaches each listening node exactly once, in order,
// with its socket exclusion; concurrent publishers on several nodes are seen
// in one and the same order everywhere.
func testCrossNodePublish(t *testing.T, c Cluster) {
	var ra, rb, rc Recorder
	a, b, cc := c.Node(ra.Handle), c.Node(rb.Handle), c.Node(rc.Handle)
	must(t, b.Listen(app, "x"))
	must(t, cc.Listen(app, "x"))
	ctx := context.Background()
	const n = 300
	for i := range n {
		must(t, a.Publish(ctx, cluster.Message{AppID: app, Channel: "x", Event: "e", Data: seqData(i), ExcludeSocket: "7.7"}))
	}
	for _, r := range []*Recorder{&rb, &rc} {
		got := waitCount(t, r, n, onChannel(app, "x"))
		checkSeq(t, got, n)
		if got[0].ExcludeSocket != "7.7" {
			t.Fatalf("exclusion lost: %+v", got[0])
		}
	}
	if got := ra.Messages(onChannel(app, "x")); len(got) != 0 {
		t.Fatalf("node a does not listen but received %d messages", len(got))
	}

	must(t, a.Listen(app, "y"))
	must(t, b.Listen(app, "y"))
	var wg sync.WaitGroup
	for _, e := range []cluster.Engine{a, b, cc} {
		wg.Go(func() {
			for i := range 100 {
				if err := e.Publish(ctx, cluster.Message{AppID: app, Channel: "y", Event: "e", Data: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ya := waitCount(t, &ra, 300, onChannel(app, "y"))
	yb := waitCount(t, &rb, 300, onChannel(app, "y"))
	for i := range ya {
		if ya[i] != yb[i] {
			t.Fatalf("nodes disagree on the order at %d: %+v vs %+v", i, ya[i], yb[i])
		}
	}
}

// Only listening nodes receive; after the last Unlisten delivery stops.
func testCrossNodeInterest(t *testing.T, c Cluster) {
	var ra, rb Recorder
	a, b := c.Node(ra.Handle), c.Node(rb.Handle)
	ctx := context.Background()
	must(t, b.Listen(app, "i"))
	must(t, a.Publish(ctx, cluster.Message{AppID: app, Channel: "i", Event: "e", Data: "1"}))
	waitCount(t, &rb, 1, onChannel(app, "i"))
	must(t, b.Unlisten(app, "i"))
	// Unsubscribing is asynchronous: wait until a probe channel that b
	// listens to after the Unlisten delivers, then publish on "i".
	must(t, b.Listen(app, "probe"))
	must(t, a.Publish(ctx, cluster.Message{AppID: app, Channel: "probe", Event: "e", Data: "p"}))
	waitCount(t, &rb, 1, onChannel(app, "probe"))
	// Messages of one publisher reach b in order, so a probe that arrives
	// without the "i" message published just before it proves b left "i".
	WaitFor(t, 5*time.Second, func() error {
		before := len(rb.Messages(onChannel(app, "i")))
		probes := len(rb.Messages(onChannel(app, "probe")))
		must(t, a.Publish(ctx, cluster.Message{AppID: app, Channel: "i", Event: "e", Data: "2"}))
		must(t, a.Publish(ctx, cluster.Message{AppID: app, Channel: "probe", Event: "e", Data: "p"}))
		waitCount(t, &rb, probes+1, onChannel(app, "probe"))
		if len(rb.Messages(onChannel(app, "i"))) != before {
			return fmt.Errorf("still subscribed")
		}
		return nil
	})
	if got := ra.Messages(nil); len(got) != 0 {
		t.Fatalf("node a listens to nothing but received %+v", got)
	}
}

// One user with sockets on two nodes is one member; first on the first
// socket anywhere, last on the last socket anywhere.
func testCrossNodePresence(t *testing.T, c Cluster) {
	a, b := c.Node(func(cluster.Message) {}), c.Node(func(cluster.Message) {})
	ctx := context.Background()
	ch := "presence-x"
	first, err := a.AddMember(ctx, app, ch, "1.1", protocol.Member{UserID: "u", UserInfo: []byte(`{"n":1}`)})
	must(t, err)
	again, err := b.AddMember(ctx, app, ch, "2.1", protocol.Member{UserID: "u", UserInfo: []byte(`{"n":1}`)})
	must(t, err)
	if !first || again {
		t.Fatalf("first = %v, %v; want true, false", first, again)
	}
	_, err = b.AddMember(ctx, app, ch, "2.2", protocol.Member{UserID: "v"})
	must(t, err)
	for _, e := range []cluster.Engine{a, b} {
		ms, err := e.Members(ctx, app, ch)
		must(t, err)
		if len(ms) != 2 || ms[0].UserID != "u" || ms[1].UserID != "v" {
			t.Fatalf("members = %+v", ms)
		}
	}
	last, err := a.RemoveMember(ctx, app, ch, "1.1", "u")
	must(t, err)
	if last {
		t.Fatal("u still has a socket on b: last = true")
	}
	last, err = b.RemoveMember(ctx, app, ch, "2.1", "u")
	must(t, err)
	if !last {
		t.Fatal("u's last socket: last = false")
	}
	if n, _ := a.MemberCount(ctx, app, ch); n != 1 {
		t.Fatalf("member count = %d, want 1", n)
	}
}

// MemberCounts on one node sees the members every node added.
func testCrossNodeMemberCounts(t *testing.T, c Cluster) {
	a, b := c.Node(func(cluster.Message) {}), c.Node(func(cluster.Message) {})
	ctx := context.Background()
	_, err := a.AddMember(ctx, app, "presence-1", "1.1", protocol.Member{UserID: "u"})
	must(t, err)
	_, err = b.AddMember(ctx, app, "presence-1", "2.1", protocol.Member{UserID: "v"})
	must(t, err)
	_, err = b.AddMember(ctx, app, "presence-2", "2.1", protocol.Member{UserID: "v"})
	must(t, err)
	for _, e := range []cluster.Engine{a, b} {
		got, err := e.MemberCounts(ctx, app, []string{"presence-2", "presence-0", "presence-1"})
		must(t, err)
		if len(got) != 3 || got[0] != 1 || got[1] != 0 || got[2] != 2 {
			t.Fatalf("member counts = %v, want [1 0 2]", got)
		}
	}
}

// Subscription counts add up across nodes and each transition is seen once.
func testCrossNodeSubscriptions(t *testing.T, c Cluster) {
	nodes := []cluster.Engine{c.Node(func(cluster.Message) {}), c.Node(func(cluster.Message) {}), c.Node(func(cluster.Message) {})}
	ctx := context.Background()
	var occupied, vacated atomic.Int32
	var wg sync.WaitGroup
	for _, e := range nodes {
		for range 10 {
			wg.Go(func() {
				if n, err := e.AddSubscriptions(ctx, app, "shared", 1); err != nil {
					t.Error(err)
				} else if n == 1 {
					occupied.Add(1)
				}
			})
		}
	}
	wg.Wait()
	for _, e := range nodes {
		if n, err := e.SubscriptionCount(ctx, app, "shared"); err != nil || n != 30 {
			t.Fatalf("count = %d, %v; want 30 from every node", n, err)
		}
		if all, err := e.Channels(ctx, app, "sha"); err != nil || all["shared"] != 30 {
			t.Fatalf("channels = %v, %v", all, err)
		}
	}
	for _, e := range nodes {
		for range 10 {
			wg.Go(func() {
				if n, err := e.AddSubscriptions(ctx, app, "shared", -1); err != nil {
					t.Error(err)
				} else if n == 0 {
					vacated.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if occupied.Load() != 1 || vacated.Load() != 1 {
		t.Fatalf("occupied seen %d times, vacated %d; want 1 and 1", occupied.Load(), vacated.Load())
	}
	if _, err := nodes[0].AddSubscriptions(ctx, app, "shared", -1); err == nil {
		t.Fatal("a node may not take away other nodes' subscriptions")
	}
}

func testCrossNodeConnections(t *testing.T, c Cluster) {
	a, b := c.Node(func(cluster.Message) {}), c.Node(func(cluster.Message) {})
	a.AddConnections(app, 2)
	b.AddConnections(app, 3)
	WaitFor(t, 10*time.Second, func() error {
		na, nb := a.AddConnections(app, 0), b.AddConnections(app, 0)
		if na != 5 || nb != 5 {
			return fmt.Errorf("counts %d and %d, want 5 on both", na, nb)
		}
		return nil
	})
	c.Kill(b)
	WaitFor(t, c.DeathBound, func() error {
		if n := a.AddConnections(app, 0); n != 2 {
			return fmt.Errorf("count %d, want 2 once b is dead", n)
		}
		return nil
	})
}

// A killed node's members and subscriptions are removed by the survivors,
// which announce each transition exactly once: member_removed to the
// channel's listeners, notices to one survivor's hub.
func testNodeDeath(t *testing.T, c Cluster) {
	var ra, rb, rd Recorder
	a, b, dead := c.Node(ra.Handle), c.Node(rb.Handle), c.Node(rd.Handle)
	ctx := context.Background()
	pch, sch := "presence-d", "solo"
	must(t, a.Listen(app, pch))
	for _, step := range []struct {
		e      cluster.Engine
		socket string
		user   string
	}{{a, "1.1", "alive"}, {dead, "3.1", "both"}, {b, "2.1", "both"}, {dead, "3.2", "gone"}, {dead, "3.3", "gone"}} {
		_, err := step.e.AddMember(ctx, app, pch, step.socket, protocol.Member{UserID: step.user})
		must(t, err)
		_, err = step.e.AddSubscriptions(ctx, app, pch, 1)
		must(t, err)
	}
	_, err := dead.AddSubscriptions(ctx, app, sch, 1)
	must(t, err)
	_, err = dead.AddSubscriptions(ctx, app, sch, 1)
	must(t, err)

	start := time.Now()
	c.Kill(dead)
	all := func(n cluster.Notice, ch string) func() int {
		return func() int {
			return len(ra.Messages(notices(n, app, ch))) + len(rb.Messages(notices(n, app, ch)))
		}
	}
	WaitFor(t, c.DeathBound, func() error {
		if got := all(cluster.NoticeChannelVacated, sch)(); got != 1 {
			return fmt.Errorf("%d channel_vacated notices for %s", got, sch)
		}
		if got := all(cluster.NoticeMemberRemoved, pch)(); got != 1 {
			return fmt.Errorf("%d member_removed notices", got)
		}
		return nil
	})
	t.Logf("dead node reaped after %s", time.Since(start).Round(time.Millisecond))
	removed := waitCount(t, &ra, 1, func(m cluster.Message) bool {
		return m.Channel == pch && m.Event == protocol.EventMemberRemoved
	})
	if removed[0].Data != protocol.MemberRemovedData("gone") {
		t.Fatalf("member_removed data %s", removed[0].Data)
	}
	if got := all(cluster.NoticeMemberRemoved, pch)(); got != 1 {
		t.Fatalf("%d member_removed notices, want 1", got)
	}
	for _, n := range []cluster.Notice{cluster.NoticeChannelVacated, cluster.NoticeMemberAdded, cluster.NoticeChannelOccupied} {
		if got := all(n, pch)(); got != 0 {
			t.Fatalf("%d notices of kind %d for %s, want none", got, n, pch)
		}
	}
	ms, err := a.Members(ctx, app, pch)
	must(t, err)
	if len(ms) != 2 || ms[0].UserID != "alive" || ms[1].UserID != "both" {
		t.Fatalf("members after death = %+v", ms)
	}
	if n, _ := b.SubscriptionCount(ctx, app, pch); n != 2 {
		t.Fatalf("%s count after death = %d, want 2", pch, n)
	}
	if all, _ := b.Channels(ctx, app, ""); len(all) != 1 {
		t.Fatalf("channels after death = %v", all)
	}
}
