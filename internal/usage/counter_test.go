package usage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func at(h, m int) time.Time { return time.Date(2030, 5, 6, h, m, 0, 0, time.UTC) }

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newCounter(t *testing.T, st Store, clk *clock) *Counter {
	t.Helper()
	c, err := New(context.Background(), Options{Store: st, FlushInterval: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func flush(t *testing.T, c *Counter) {
	t.Helper()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	clk := &clock{t: at(10, 0)}
	c := newCounter(t, openStore(t), clk)
	for i := range 4 {
		if err := c.Admit("a", 5, 1); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// A publish with info counts 2 (protocol.md §8): 4 + 2 > 5.
	var qe *QuotaError
	if err := c.Admit("a", 5, 2); !errors.As(err, &qe) || qe.Used != 4 || qe.Quota != 5 || qe.AppID != "a" {
		t.Fatalf("over quota: %v", err)
	}
	if err := c.Admit("a", 5, 1); err != nil {
		t.Fatalf("last message: %v", err)
	}
	c.Add("a", 3) // deliveries are counted even past the quota
	if err := c.Admit("a", 5, 1); !errors.As(err, &qe) || qe.Used != 8 {
		t.Fatalf("after deliveries: %v", err)
	}
	if err := c.Admit("a", 0, 1); err != nil {
		t.Fatalf("0 means unlimited: %v", err)
	}
	if err := c.Admit("b", 5, 1); err != nil {
		t.Fatalf("quotas are per app: %v", err)
	}
	if got := c.Stats("a").Messages; got != 9 {
		t.Fatalf("messages = %d, want 9", got)
	}
}

func TestConcurrentAdmitNeverOvershoots(t *testing.T) {
	t.Parallel()
	c := newCounter(t, openStore(t), &clock{t: at(10, 0)})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Admit("a", 50, 1) == nil {
				ok.Add(1)
			}
			c.Add("other", 1)
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Flush(context.Background()) }()
	wg.Wait()
	if ok.Load() != 50 {
		t.Fatalf("%d publishes admitted, want 50", ok.Load())
	}
}

func TestKeptAcrossRestartsAndNodes(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	clk := &clock{t: at(10, 0)}
	a := newCounter(t, st, clk)
	b := newCounter(t, st, clk) // a second node on the same database
	a.Add("x", 6)
	b.Add("x", 3)
	flush(t, a)
	flush(t, b)
	flush(t, a) // a learns b's counts
	if got := a.Stats("x").Messages; got != 9 {
		t.Fatalf("node a sees %d, want 9", got)
	}
	if err := a.Admit("x", 10, 2); err == nil {
		t.Fatal("cluster-wide quota not enforced")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := newCounter(t, st, clk)
	if got := restarted.Stats("x").Messages; got != 9 {
		t.Fatalf("after restart %d, want 9", got)
	}
}

func TestHourAndDayRollover(t *testing.T) {
	t.Parallel()
	clk := &clock{t: at(22, 30)}
	c := newCounter(t, openStore(t), clk)
	c.Add("a", 5)
	c.Connected("a")
	c.Connected("a")
	c.Disconnected("a")
	clk.Set(at(23, 0).Add(time.Second))
	flush(t, c) // the 5 belong to 22:00
	c.Add("a", 2)
	clk.Set(at(24, 0).Add(time.Second)) // next day
	flush(t, c)                         // the 2 belong to 23:00, yesterday
	s := c.Stats("a")
	if s.Messages != 0 || !s.Day.Equal(at(24, 0)) || s.Connections != 1 || s.PeakToday != 1 {
		t.Fatalf("new day stats %+v", s)
	}
	c.Add("a", 1)
	h, err := c.History(context.Background(), "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UsageHour{{Hour: at(22, 0), Messages: 5, Peak: 2}, {Hour: at(23, 0), Messages: 2, Peak: 1},
		{Hour: at(24, 0), Messages: 1, Peak: 1}}
	if len(h) != 3 {
		t.Fatalf("history %+v", h)
	}
	for i := range want {
		if !h[i].Hour.Equal(want[i].Hour) || h[i].Messages != want[i].Messages || h[i].Peak != want[i].Peak {
			t.Fatalf("hour %d = %+v, want %+v", i, h[i], want[i])
		}
	}
}

func TestConnectionsPeak(t *testing.T) {
	t.Parallel()
	c := newCounter(t, openStore(t), &clock{t: at(9, 0)})
	for range 3 {
		c.Connected("a")
	}
	c.Disconnected("a")
	if s := c.Stats("a"); s.Connections != 2 || s.PeakToday != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// failing wraps a store whose writes fail while fail is set.
type failing struct {
	Store
	fail atomic.Bool
}

func (f *failing) AddUsage(ctx context.Context, d []store.UsageDelta) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.Store.AddUsage(ctx, d)
}

func TestFailedFlushKeepsCounts(t *testing.T) {
	t.Parallel()
	st := &failing{Store: openStore(t)}
	clk := &clock{t: at(10, 0)}
	c := newCounter(t, st, clk)
	c.Add("a", 4)
	st.fail.Store(true)
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("flush did not fail")
	}
	if got := c.Stats("a").Messages; got != 4 {
		t.Fatalf("messages after failed flush = %d", got)
	}
	st.fail.Store(false)
	flush(t, c)
	if got := c.Stats("a").Messages; got != 4 {
		t.Fatalf("messages after flush = %d", got)
	}
	rows, _ := st.Usage(context.Background(), "a", at(0, 0))
	if len(rows) != 1 || rows[0].Messages != 4 {
		t.Fatalf("stored %+v", rows)
	}
}

func TestBackgroundFlush(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c, err := New(context.Background(), Options{Store: st, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Add("a", 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		tot, _ := st.UsageTotals(context.Background(), dayOf(time.Now()))
		if tot["a"].Messages == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not flushed within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkAdd(b *testing.B) {
	c := &Counter{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add("app", 1)
		}
	})
}
