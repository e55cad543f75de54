package wsconn

import (
	"testing"
	"time"
)

// releases feeds the opened counts of successive sweeps to a memRelease and
// returns how many releases ran.
func releases(t *testing.T, opened ...int64) int64 {
	t.Helper()
	var m memRelease
	for _, n := range opened {
		m.tick(n)
		deadline := time.Now().Add(10 * time.Second)
		for m.running.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if m.running.Load() {
			t.Fatal("a release did not finish in 10 s")
		}
	}
	return m.count.Load()
}

// TestMemReleaseAfterBurst: the heap is released once after a burst of at
// least releaseBurst connections is followed by a quiet sweep, never during
// steady churn, never after a small burst.
func TestMemReleaseAfterBurst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opened []int64
		want   int64
	}{
		{"burst then quiet", []int64{0, 600, 1200, 1205, 1205}, 1},
		{"burst, quiet, burst, quiet", []int64{0, 1500, 1500, 1500, 3000, 3001}, 2},
		{"small burst", []int64{0, 500, 990, 995, 995}, 0},
		{"steady churn", []int64{0, 600, 1200, 1800, 2400, 3000}, 0},
		{"idle", []int64{0, 0, 0, 5, 9}, 0},
	} {
		if got := releases(t, tc.opened...); got != tc.want {
			t.Errorf("%s: %d releases, want %d", tc.name, got, tc.want)
		}
	}
}
