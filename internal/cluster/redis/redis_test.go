package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
	"github.com/pixiu-io/pixiu/internal/redisurl"
)

// testURL is the shared Redis of the tests: PIXIU_TEST_REDIS or 127.0.0.1:6379.
func testURL() string {
	if u := os.Getenv("PIXIU_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// requireRedis fails the test (never skips) when Redis does not answer.
func requireRedis(t testing.TB, url string) {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("PIXIU_TEST_REDIS: %v", err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the Redis engine tests need a Redis at %s (set PIXIU_TEST_REDIS to use another): %v", url, err)
	}
}

// testPrefix returns a key prefix unique to this test and deletes its keys
// when the test ends (after the nodes it started are closed).
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	prefix := "pixiutest:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { deletePrefix(url, prefix) })
	return prefix
}

func deletePrefix(url, prefix string) {
	if strings.HasPrefix(url, "redis+cluster://") {
		deleteClusterPrefix(url, prefix)
		return
	}
	var c goredis.UniversalClient
	if r, err := redisurl.Parse(url); err == nil && r.Mode == redisurl.Sentinel {
		c = goredis.NewFailoverClient(&goredis.FailoverOptions{MasterName: r.MasterName, SentinelAddrs: r.Addrs, DB: r.DB})
	} else {
		opts, err := goredis.ParseURL(url)
		if err != nil {
			return
		}
		c = goredis.NewClient(opts)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
	}
	if len(batch) > 0 {
		c.Del(ctx, batch...)
	}
}

// startNode starts an engine with a short lease and waits until it is ready.
func startEngine(t testing.TB, url, prefix string, h cluster.Handler) *redis.Engine {
	t.Helper()
	var log *slog.Logger
	if os.Getenv("PIXIU_TEST_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := redis.New(redis.Options{URL: url, KeyPrefix: prefix, LeaseTTL: time.Second, Log: log}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	clustertest.WaitFor(t, 10*time.Second, e.Ready)
	return e
}

func TestConformance(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	clustertest.Run(t, func(t *testing.T) clustertest.Cluster {
		prefix := testPrefix(t, url)
		return clustertest.Cluster{
			Node:       func(h cluster.Handler) cluster.Engine { return startEngine(t, url, prefix, h) },
			MultiNode:  true,
			Kill:       func(e cluster.Engine) { redis.Crash(e.(*redis.Engine)) },
			DeathBound: 5 * time.Second,
		}
	})
}

// The conformance suite on a three-primary Redis Cluster (sharded pub/sub).
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	url := sharedCluster(t).url()
	clustertest.Run(t, func(t *testing.T) clustertest.Cluster {
		prefix := testPrefix(t, url)
		return clustertest.Cluster{
			Node:       func(h cluster.Handler) cluster.Engine { return startEngine(t, url, prefix, h) },
			MultiNode:  true,
			Kill:       func(e cluster.Engine) { redis.Crash(e.(*redis.Engine)) },
			DeathBound: 5 * time.Second,
		}
	})
}
