package wsconn

import "testing"

// The reserve is small enough that a process with the common limit of
// 20,000 descriptors holds 19,900 connections and its own ~40 files, and
// bounded for large limits.
func TestDescriptorReserve(t *testing.T) {
	for _, c := range []struct{ limit, want int }{
		{128, 32}, {1024, 32}, {20_000, 39}, {65_536, 128}, {1 << 20, 1024}, {1 << 24, 1024},
	} {
		if got := descriptorReserve(c.limit); got != c.want {
			t.Errorf("reserve of %d: %d, want %d", c.limit, got, c.want)
		}
	}
	if ceiling := 20_000 - descriptorReserve(20_000); 19_900+40 >= ceiling {
		t.Errorf("ceiling %d leaves no room for 19,900 connections and 40 other files", ceiling)
	}
}
