package redis_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
)

// The usage tally (cluster.Tally) across two engines, on a standalone Redis
// and on a Redis Cluster: messages either node adds are the day's and the
// hour's for both, the connections of each node are seen by the other, and
// the cluster-wide peak is kept once connections close.
func TestTallyAcrossNodes(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		url := testURL()
		requireRedis(t, url)
		prefix := testTally(t, url)
		// Every day's hash expires, within three days of the day's start.
		opts, _ := goredis.ParseURL(url)
		c := goredis.NewClient(opts)
		defer c.Close()
		keys, err := c.Keys(context.Background(), prefix+"*:u:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("tally keys: %q %v", keys, err)
		}
		for _, k := range keys {
			if ttl := c.TTL(context.Background(), k).Val(); ttl <= 0 || ttl > 72*time.Hour {
				t.Errorf("%s expires in %v, want within 72h", k, ttl)
			}
		}
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		testTally(t, sharedCluster(t).url())
	})
}

func testTally(t *testing.T, url string) (prefix string) {
	prefix = testPrefix(t, url)
	a, b := startEngine(t, url, prefix, func(cluster.Message) {}), startEngine(t, url, prefix, func(cluster.Message) {})
	ctx := context.Background()
	now := time.Now().UTC()
	hour := now.Truncate(time.Hour)

	if _, err := a.TallyMessages(ctx, hour, map[string]int64{"app1": 3, "app2": 1}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.TallyMessages(ctx, hour, map[string]int64{"app1": 4}, []string{"app2", "app3"})
	if err != nil {
		t.Fatal(err)
	}
	if got["app1"].Messages != 7 || got["app2"].Messages != 1 || got["app3"].Messages != 0 || len(got) != 3 {
		t.Fatalf("day totals from b: %+v, want app1 7, app2 1, app3 0", got)
	}
	// Apps this node never named are in the day's figures too.
	if got, err := b.TallyMessages(ctx, hour, nil, nil); err != nil || got["app1"].Messages != 7 || got["app2"].Messages != 1 || len(got) != 2 {
		t.Fatalf("day totals of every app: %+v %v, want app1 7, app2 1", got, err)
	}
	// An hour ago (yesterday's hash when today is less than an hour old).
	if _, err := a.TallyMessages(ctx, hour.Add(-time.Hour), map[string]int64{"app1": 2}, nil); err != nil {
		t.Fatal(err)
	}
	hours, err := b.TallyHours(ctx, "app1", hour.Add(-23*time.Hour), 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 || !hours[23].Hour.Equal(hour) || hours[23].Messages != 7 || hours[22].Messages != 2 || hours[0].Messages != 0 {
		t.Fatalf("hours of app1: %+v, want 2 then 7 in the last two", hours)
	}

	// Connections: each node's count reaches the other within an exchange,
	// and their sum is the hour's (and the day's) peak.
	a.AddConnections("app1", 2)
	b.AddConnections("app1", 3)
	want := map[string]int64{a.NodeID(): 2, b.NodeID(): 3}
	clustertest.WaitFor(t, 10*time.Second, func() error {
		for _, e := range []interface {
			ConnectionsByNode(string) map[string]int64
		}{a, b} {
			if got := e.ConnectionsByNode("app1"); !maps.Equal(got, want) {
				return fmt.Errorf("connections by node: %v, want %v", got, want)
			}
		}
		d, err := a.TallyMessages(ctx, hour, nil, []string{"app1"})
		if err != nil || d["app1"].Peak != 5 {
			return fmt.Errorf("peak of app1: %+v %v, want 5", d, err)
		}
		return nil
	})
	b.AddConnections("app1", -3)
	clustertest.WaitFor(t, 10*time.Second, func() error {
		if got := a.ConnectionsByNode("app1"); !maps.Equal(got, map[string]int64{a.NodeID(): 2}) {
			return fmt.Errorf("connections by node on a: %v, want only a's 2", got)
		}
		return nil
	})
	d, err := b.TallyMessages(ctx, hour, nil, []string{"app1"})
	if err != nil || d["app1"].Peak != 5 || d["app1"].Messages != 7+2*boolInt(tallyDayOf(hour.Add(-time.Hour)) == tallyDayOf(hour)) {
		t.Fatalf("app1 after b's connections closed: %+v %v, want the peak of 5 kept", d, err)
	}
	hours, err = a.TallyHours(ctx, "app1", hour, 1)
	if err != nil || hours[0].Peak != 5 {
		t.Fatalf("this hour's peak: %+v %v, want 5", hours, err)
	}
	return prefix
}

func tallyDayOf(t time.Time) string { return t.UTC().Format("20060102") }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
