package clustertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

const app = "app-1"

func testPublishInOrder(t *testing.T, c Cluster) {
	var r Recorder
	e := c.Node(r.Handle)
	must(t, e.Listen(app, "orders"))
	ctx := context.Background()
	const n = 200
	for i := range n {
		must(t, e.Publish(ctx, cluster.Message{AppID: app, Channel: "orders", Event: "tick", Data: seqData(i)}))
	}
	full := cluster.Message{AppID: app, Channel: "orders", Event: "client-x", Data: "d\x00ü",
		UserID: "u1", ExcludeSocket: "1.2"}
	must(t, e.Publish(ctx, full))
	got := waitCount(t, &r, n+1, onChannel(app, "orders"))
	checkSeq(t, got[:n], n)
	if got[n] != full {
		t.Fatalf("fields not carried: got %+v, want %+v", got[n], full)
	}
}

func testBroadcast(t *testing.T, c Cluster) {
	var r Recorder
	e := c.Node(r.Handle)
	m := cluster.Message{AppID: app, UserID: "u9", Notice: cluster.NoticeTerminateUser}
	must(t, e.Publish(context.Background(), m))
	got := waitCount(t, &r, 1, func(x cluster.Message) bool { return x.Notice == cluster.NoticeTerminateUser })
	if got[0] != m {
		t.Fatalf("broadcast %+v, want %+v", got[0], m)
	}
}

// Listen is reference-counted: delivery continues while any Listen is open.
func testListenRefCount(t *testing.T, c Cluster) {
	var r Recorder
	e := c.Node(r.Handle)
	must(t, e.Listen(app, "rc"))
	must(t, e.Listen(app, "rc"))
	must(t, e.Unlisten(app, "rc"))
	must(t, e.Publish(context.Background(), cluster.Message{AppID: app, Channel: "rc", Event: "e", Data: seqData(0)}))
	waitCount(t, &r, 1, onChannel(app, "rc"))
	must(t, e.Unlisten(app, "rc"))
	must(t, e.Listen(app, "rc"))
	must(t, e.Publish(context.Background(), cluster.Message{AppID: app, Channel: "rc", Event: "e", Data: seqData(1)}))
	waitCount(t, &r, 2, onChannel(app, "rc"))
}

func testPresence(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	ch := "presence-room"
	add := func(socket, user, info string) bool {
		t.Helper()
		first, err := e.AddMember(ctx, app, ch, socket, protocol.Member{UserID: user, UserInfo: []byte(info)})
		must(t, err)
		return first
	}
	remove := func(socket, user string) bool {
		t.Helper()
		last, err := e.RemoveMember(ctx, app, ch, socket, user)
		must(t, err)
		return last
	}
	if !add("1.1", "bob", `{"n":"B"}`) {
		t.Fatal("first socket of bob: first = false")
	}
	if add("1.2", "bob", `{"n":"B"}`) {
		t.Fatal("second socket of bob: first = true")
	}
	if add("1.2", "bob", `{"n":"B"}`) {
		t.Fatal("same socket again: first = true")
	}
	if !add("1.3", "al", "") {
		t.Fatal("first socket of al: first = false")
	}
	ms, err := e.Members(ctx, app, ch)
	must(t, err)
	if len(ms) != 2 || ms[0].UserID != "al" || ms[1].UserID != "bob" || string(ms[1].UserInfo) != `{"n":"B"}` || len(ms[0].UserInfo) != 0 {
		t.Fatalf("members = %+v, want al (no info) and bob", ms)
	}
	if n, err := e.MemberCount(ctx, app, ch); err != nil || n != 2 {
		t.Fatalf("member count = %d, %v; want 2", n, err)
	}
	if remove("9.9", "bob") {
		t.Fatal("unknown socket removed: last = true")
	}
	if remove("1.1", "bob") {
		t.Fatal("bob still has 1.2: last = true")
	}
	if !remove("1.2", "bob") {
		t.Fatal("bob's last socket: last = false")
	}
	if remove("1.2", "bob") {
		t.Fatal("removed twice: last = true")
	}
	if n, _ := e.MemberCount(ctx, app, ch); n != 1 {
		t.Fatalf("member count = %d, want 1", n)
	}
	if ms, _ := e.Members(ctx, "other-app", ch); len(ms) != 0 {
		t.Fatalf("apps are not separated: %+v", ms)
	}
}

// MemberCounts answers MemberCount for many channels at once, in order.
func testMemberCounts(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	if n, err := e.MemberCounts(ctx, app, nil); err != nil || len(n) != 0 {
		t.Fatalf("no channels: %v, %v; want empty", n, err)
	}
	const chans = 100
	names := make([]string, 0, chans+3)
	want := make([]int, 0, chans+3)
	for i := range chans {
		ch := "presence-" + strconv.Itoa(i)
		for u := range i % 4 { // 0 to 3 users, the third with two sockets
			_, err := e.AddMember(ctx, app, ch, "1."+strconv.Itoa(u), protocol.Member{UserID: "u" + strconv.Itoa(u)})
			must(t, err)
			if u == 2 {
				_, err = e.AddMember(ctx, app, ch, "2."+strconv.Itoa(u), protocol.Member{UserID: "u" + strconv.Itoa(u)})
				must(t, err)
			}
		}
		names = append(names, ch)
		want = append(want, i%4)
	}
	_, err := e.AddMember(ctx, "other-app", "presence-x", "1.1", protocol.Member{UserID: "a"})
	must(t, err)
	names = append(names, "presence-x", "presence-3", "never-used")
	want = append(want, 0, 3, 0)
	got, err := e.MemberCounts(ctx, app, names)
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("member counts = %v\nwant %v", got, want)
	}
	for i, ch := range names {
		if n, err := e.MemberCount(ctx, app, ch); err != nil || n != want[i] {
			t.Fatalf("%s: MemberCount = %d, %v; MemberCounts said %d", ch, n, err, want[i])
		}
	}
}

// Many sockets of one user join and leave concurrently: exactly one caller
// sees first, exactly one sees last.
func testPresenceConcurrent(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	const n = 40
	var firsts, lasts atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			first, err := e.AddMember(ctx, app, "presence-c", fmt.Sprint("s.", i), protocol.Member{UserID: "u"})
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			last, err := e.RemoveMember(ctx, app, "presence-c", fmt.Sprint("s.", i), "u")
			if err != nil {
				t.Error(err)
			}
			if last {
				lasts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 || lasts.Load() != 1 {
		t.Fatalf("first seen %d times, last %d times; want 1 and 1", firsts.Load(), lasts.Load())
	}
}

func testSubscriptions(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	step := func(ch string, delta, want int) {
		t.Helper()
		n, err := e.AddSubscriptions(ctx, app, ch, delta)
		must(t, err)
		if n != want {
			t.Fatalf("%s %+d → %d, want %d", ch, delta, n, want)
		}
	}
	step("news", 1, 1)
	step("news", 1, 2)
	step("private-a", 1, 1)
	step("presence-b", 1, 1)
	if n, err := e.SubscriptionCount(ctx, app, "news"); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}
	all, err := e.Channels(ctx, app, "")
	must(t, err)
	if len(all) != 3 || all["news"] != 2 || all["private-a"] != 1 {
		t.Fatalf("channels = %v", all)
	}
	pre, err := e.Channels(ctx, app, "presence-")
	must(t, err)
	if len(pre) != 1 || pre["presence-b"] != 1 {
		t.Fatalf("channels with prefix presence- = %v", pre)
	}
	step("news", -1, 1)
	step("news", -1, 0)
	if _, err := e.AddSubscriptions(ctx, app, "news", -1); err == nil {
		t.Fatal("a decrement below zero must fail, not look like a vacated channel")
	}
	if n, _ := e.SubscriptionCount(ctx, app, "news"); n != 0 {
		t.Fatalf("count after vacating = %d", n)
	}
	if all, _ := e.Channels(ctx, app, ""); len(all) != 2 {
		t.Fatalf("vacated channel still listed: %v", all)
	}
	if other, _ := e.Channels(ctx, "other-app", ""); len(other) != 0 {
		t.Fatalf("apps are not separated: %v", other)
	}
}

func testSubscriptionsConcurrent(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	const n = 40
	var occupied, vacated atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if k, err := e.AddSubscriptions(ctx, app, "busy", 1); err != nil {
				t.Error(err)
			} else if k == 1 {
				occupied.Add(1)
			}
		})
	}
	wg.Wait()
	for range n {
		wg.Go(func() {
			if k, err := e.AddSubscriptions(ctx, app, "busy", -1); err != nil {
				t.Error(err)
			} else if k == 0 {
				vacated.Add(1)
			}
		})
	}
	wg.Wait()
	if occupied.Load() != 1 || vacated.Load() != 1 {
		t.Fatalf("occupied seen %d times, vacated %d times; want 1 and 1", occupied.Load(), vacated.Load())
	}
}

func testCache(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	if _, ok, err := e.GetCache(ctx, app, "cache-x"); err != nil || ok {
		t.Fatalf("empty cache: ok=%v err=%v", ok, err)
	}
	must(t, e.SetCache(ctx, app, "cache-x", cluster.CachedEvent{Event: "ev", Data: `{"a":"\u0000"}`, TTL: time.Minute}))
	ev, ok, err := e.GetCache(ctx, app, "cache-x")
	must(t, err)
	if !ok || ev.Event != "ev" || ev.Data != `{"a":"\u0000"}` || ev.TTL <= 50*time.Second || ev.TTL > time.Minute {
		t.Fatalf("cached = %+v ok=%v", ev, ok)
	}
	must(t, e.SetCache(ctx, app, "cache-short", cluster.CachedEvent{Event: "ev", Data: "d", TTL: 50 * time.Millisecond}))
	WaitFor(t, 5*time.Second, func() error {
		if _, ok, err := e.GetCache(ctx, app, "cache-short"); err != nil || ok {
			return fmt.Errorf("still cached (err %v)", err)
		}
		return nil
	})
}

func testConnections(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	for i := 1; i <= 3; i++ {
		if n := e.AddConnections(app, 1); n != i {
			t.Fatalf("after %d connections the count is %d", i, n)
		}
	}
	if n := e.AddConnections(app, -1); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
	if n := e.AddConnections("other-app", 0); n != 0 {
		t.Fatalf("other app count = %d", n)
	}
}

func testReadyClose(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	WaitFor(t, 5*time.Second, e.Ready)
	must(t, e.Close())
	if err := e.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("second Close: %v", err)
	}
}
