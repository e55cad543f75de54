package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
)

// redisEngine starts a Redis engine on the tests' Redis (PIXIU_TEST_REDIS or
// 127.0.0.1:6379) under prefix; the test fails (never skips) without one.
func redisEngine(t *testing.T, prefix string) *redis.Engine {
	t.Helper()
	url := os.Getenv("PIXIU_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	e, err := redis.New(redis.Options{URL: url, KeyPrefix: prefix, LeaseTTL: time.Second}, func(cluster.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for e.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the usage tally tests need a Redis at %s (set PIXIU_TEST_REDIS): %v", url, e.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

// redisPrefix is a key prefix of the test's own; its keys go when it ends.
func redisPrefix(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "pixiutest:usage:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		opts, err := goredis.ParseURL("redis://127.0.0.1:6379/0")
		if u := os.Getenv("PIXIU_TEST_REDIS"); u != "" {
			opts, err = goredis.ParseURL(u)
		}
		if err != nil {
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// Two nodes' counters, each with its own SQLite store, share the day's
// counts through the Redis engine's tally: a quota holds across them, the
// hourly history has both, a new day starts from zero, and counts made
// while the tally is unreachable are added once it answers.
func TestTallyAcrossCounters(t *testing.T) {
	t.Parallel()
	prefix := redisPrefix(t)
	clk := &clock{t: at(10, 0)}
	a, b := newCounter(t, openStore(t), clk), newCounter(t, openStore(t), clk)
	a.SetTally(redisEngine(t, prefix))
	eb := redisEngine(t, prefix)
	b.SetTally(eb)

	a.Add("app", 5)
	flush(t, a)
	flush(t, b)
	if st := b.Stats("app"); st.Messages != 5 || !st.ClusterWide {
		t.Fatalf("b after a counted 5: %+v", st)
	}
	var qe *QuotaError
	if err := b.Admit("app", 6, 2); !errors.As(err, &qe) || qe.Used != 5 {
		t.Fatalf("b admits 2 more of a quota of 6 with a's 5 used: %v", err)
	}
	if err := b.Admit("app", 6, 1); err != nil {
		t.Fatal(err)
	}
	clk.Set(at(10, 30))
	flush(t, b)
	flush(t, a)
	if st := a.Stats("app"); st.Messages != 6 {
		t.Fatalf("a after b counted 1: %+v", st)
	}
	h, err := a.History(context.Background(), "app", 24)
	if err != nil || h[23].Messages != 6 || !h[23].Hour.Equal(at(10, 0)) {
		t.Fatalf("a's history: %+v %v, want 6 at 10:00", h[23], err)
	}

	// The next day starts at zero; a count made just before midnight goes
	// to the day it was made in.
	a.Add("app", 1)
	clk.Set(at(10, 0).Add(14*time.Hour + 30*time.Second))
	flush(t, a)
	if st := a.Stats("app"); st.Messages != 0 {
		t.Fatalf("a on the next day: %+v, want 0", st)
	}
	a.Add("app", 2)
	flush(t, a)
	flush(t, b)
	if st := b.Stats("app"); st.Messages != 2 {
		t.Fatalf("b on the next day: %+v, want a's 2", st)
	}

	// b's tally goes away: b counts on its own (its store) and shares the
	// counts with the next tally that answers.
	_ = eb.Close()
	b.Add("app", 3)
	flush(t, b) // no error: the store took the counts
	if st := b.Stats("app"); st.Messages != 3 {
		t.Fatalf("b without its tally: %+v, want its own 3", st)
	}
	b.SetTally(redisEngine(t, prefix))
	flush(t, b)
	flush(t, a)
	if st := a.Stats("app"); st.Messages != 5 {
		t.Fatalf("a once b's tally is back: %+v, want 2 + 3", st)
	}
}
