package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// On a Redis Cluster each channel's topic is a sharded channel subscribed on
// the primary that owns its slot (so its messages stay on that shard), never
// a classic pub/sub channel, and the channels of one node spread over the
// shards.
func TestClusterShardedSubscriptions(t *testing.T) {
	t.Parallel()
	rc := sharedCluster(t)
	url := rc.url()
	prefix := testPrefix(t, url)
	var ra, rb clustertest.Recorder
	a := startEngine(t, url, prefix, ra.Handle)
	b := startEngine(t, url, prefix, rb.Handle)
	const n = 24
	for i := range n {
		if err := b.Listen("app", "ch"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	admin := rc.client()
	defer admin.Close()
	ctx := context.Background()
	shards := map[string]int{}
	for i := range n {
		topic := prefix + "{app:ch" + strconv.Itoa(i) + "}:m"
		owner, err := admin.MasterForKey(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		got, err := owner.Do(ctx, "PUBSUB", "SHARDNUMSUB", topic).Slice()
		if err != nil || len(got) != 2 || got[1] != int64(1) {
			t.Fatalf("PUBSUB SHARDNUMSUB %s on its owner %s: %v %v, want one subscriber", topic, owner.Options().Addr, got, err)
		}
		shards[owner.Options().Addr]++
	}
	if len(shards) < 2 {
		t.Fatalf("%d channels all on one shard: %v", n, shards)
	}
	_ = admin.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		if chs, _ := m.PubSubChannels(ctx, prefix+"*").Result(); len(chs) > 0 {
			t.Errorf("classic pub/sub channels on %s: %v", m.Options().Addr, chs)
		}
		return nil
	})
	for i := range n {
		must(t, a.Publish(ctx, cluster.Message{AppID: "app", Channel: "ch" + strconv.Itoa(i), Event: "e", Data: strconv.Itoa(i)}))
	}
	clustertest.WaitFor(t, 10*time.Second, func() error {
		if got := len(rb.Messages(func(m cluster.Message) bool { return m.Event == "e" })); got != n {
			return fmt.Errorf("%d of %d messages", got, n)
		}
		return nil
	})
}

// A slot moved to another shard while a node listens to a channel in it and
// holds state there: Redis unsubscribes the node (sunsubscribe), the node
// subscribes again on the new owner, and publishes, counts and presence keep
// working. Runs on a cluster of its own (the slot map changes).
func TestClusterSlotMigration(t *testing.T) {
	t.Parallel()
	rc, err := startCluster(3)
	if err != nil {
		t.Fatalf("the Redis Cluster tests need redis-server and redis-cli (7.0+) on PATH: %v", err)
	}
	t.Cleanup(rc.stop)
	url := rc.url()
	prefix := testPrefix(t, url)
	var ra, rb clustertest.Recorder
	a := startEngine(t, url, prefix, ra.Handle)
	b := startEngine(t, url, prefix, rb.Handle)
	ctx := context.Background()
	ch := "presence-moving"
	must(t, b.Listen("app", ch))
	if _, err := b.AddMember(ctx, "app", ch, "1.1", protocol.Member{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddSubscriptions(ctx, "app", ch, 1); err != nil {
		t.Fatal(err)
	}
	events := func(name string) func(m cluster.Message) bool {
		return func(m cluster.Message) bool { return m.Channel == ch && m.Event == name }
	}
	must(t, a.Publish(ctx, cluster.Message{AppID: "app", Channel: ch, Event: "before"}))
	clustertest.WaitFor(t, 10*time.Second, func() error {
		if len(rb.Messages(events("before"))) != 1 {
			return fmt.Errorf("no message before the move")
		}
		return nil
	})

	topic := prefix + "{app:" + ch + "}:m"
	moveSlot(t, rc, topic)

	// The node is told its subscription is gone and subscribes again on
	// the new owner; publish until a message gets through.
	clustertest.WaitFor(t, 20*time.Second, func() error {
		if err := b.Ready(); err != nil {
			return err
		}
		_ = a.Publish(ctx, cluster.Message{AppID: "app", Channel: ch, Event: "after"})
		time.Sleep(100 * time.Millisecond)
		if len(rb.Messages(events("after"))) == 0 {
			return fmt.Errorf("no message after the move")
		}
		return nil
	})
	if n, err := a.SubscriptionCount(ctx, "app", ch); err != nil || n != 1 {
		t.Fatalf("count after the move: %d, %v; want 1", n, err)
	}
	if ms, err := a.Members(ctx, "app", ch); err != nil || len(ms) != 1 || ms[0].UserID != "u1" {
		t.Fatalf("members after the move: %+v, %v", ms, err)
	}
	if all, err := a.Channels(ctx, "app", ""); err != nil || all[ch] != 1 {
		t.Fatalf("channels after the move: %v, %v", all, err)
	}
	// State changes land on the new owner.
	if last, err := b.RemoveMember(ctx, "app", ch, "1.1", "u1"); err != nil || !last {
		t.Fatalf("remove after the move: %v, %v", last, err)
	}
	if n, err := b.AddSubscriptions(ctx, "app", ch, -1); err != nil || n != 0 {
		t.Fatalf("unsubscribe after the move: %d, %v", n, err)
	}
}

// moveSlot moves the slot of key (with its keys) from its primary to
// another, the way redis-cli --cluster reshard does.
func moveSlot(t *testing.T, rc *redisCluster, key string) {
	t.Helper()
	ctx := context.Background()
	admin := rc.client()
	defer admin.Close()
	slot := int(slotOf(t, admin, key))
	src, err := admin.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var dst *goredis.Client
	var all []*goredis.Client
	for _, p := range rc.ports {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p)})
		defer c.Close()
		all = append(all, c)
		if c.Options().Addr != src.Options().Addr && dst == nil {
			dst = c
		}
	}
	srcID := src.Do(ctx, "CLUSTER", "MYID").Val().(string)
	dstID := dst.Do(ctx, "CLUSTER", "MYID").Val().(string)
	must(t, dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(t, src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	_, dstPort, _ := strings.Cut(dst.Options().Addr, ":")
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(t, err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", dstPort, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(t, src.Do(ctx, args...).Err())
	}
	for _, c := range all {
		must(t, c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	t.Logf("moved slot %d from %s to %s", slot, src.Options().Addr, dst.Options().Addr)
}

func slotOf(t *testing.T, c *goredis.ClusterClient, key string) int64 {
	t.Helper()
	n, err := c.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
