package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// A presence socket that leaves while Redis does not answer cannot be
// removed then; once Redis answers, its node re-aligns Redis with what it
// owns and announces the member_removed exactly once, to clients and hub.
func TestOutageRemovalAnnouncedOnRecovery(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	prefix := testPrefix(t, rs.url())
	var ra, rb clustertest.Recorder
	a := startEngine(t, rs.url(), prefix, ra.Handle)
	b := startEngine(t, rs.url(), prefix, rb.Handle)
	ctx := context.Background()
	ch := "presence-o"
	if err := b.Listen("app", ch); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		e            cluster.Engine
		socket, user string
	}{{a, "1.1", "leaves"}, {b, "2.1", "stays"}} {
		if _, err := s.e.AddMember(ctx, "app", ch, s.socket, protocol.Member{UserID: s.user}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.e.AddSubscriptions(ctx, "app", ch, 1); err != nil {
			t.Fatal(err)
		}
	}

	opts, _ := goredis.ParseURL(rs.url())
	admin := goredis.NewClient(opts)
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 3000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveMember(ctx, "app", ch, "1.1", "leaves"); err == nil {
		t.Fatal("RemoveMember succeeded while Redis was paused")
	}
	if a.Ready() == nil {
		t.Fatal("ready while Redis does not answer")
	}
	_, _ = a.AddSubscriptions(ctx, "app", ch, -1)

	clustertest.WaitFor(t, 15*time.Second, a.Ready)
	removed := func(m cluster.Message) bool { return m.Channel == ch && m.Event == protocol.EventMemberRemoved }
	clustertest.WaitFor(t, 5*time.Second, func() error {
		if n := len(rb.Messages(removed)); n != 1 {
			return fmt.Errorf("%d member_removed delivered to b", n)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond)
	notices := func(m cluster.Message) bool { return m.Notice == cluster.NoticeMemberRemoved && m.UserID == "leaves" }
	if n, m := len(rb.Messages(removed)), len(ra.Messages(notices))+len(rb.Messages(notices)); n != 1 || m != 1 {
		t.Fatalf("%d member_removed messages and %d notices, want 1 and 1", n, m)
	}
	ms, err := b.Members(ctx, "app", ch)
	if err != nil || len(ms) != 1 || ms[0].UserID != "stays" {
		t.Fatalf("members %+v, %v", ms, err)
	}
	if n, _ := b.SubscriptionCount(ctx, "app", ch); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
}
