package server_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// TestREADMEMetricsList: the README's /metrics section lists every family a
// server exposes (the in-memory engine's and the Redis engine's together),
// one bullet per family, and nothing /metrics lacks.
func TestREADMEMetricsList(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "- `GET /metrics`")
	end := strings.Index(readme, "A Grafana dashboard over these families")
	if start < 0 || end < start {
		t.Fatal("README: the /metrics section (from \"- `GET /metrics`\" to \"A Grafana dashboard over these families\") is not found")
	}
	bullet := regexp.MustCompile("(?m)^  - (.*)$")
	family := regexp.MustCompile("`((?:pixiu|go|process|promhttp)_[a-z_]+)[`{]")
	listed := map[string]bool{}
	for _, m := range bullet.FindAllStringSubmatch(readme[start:end], -1) {
		head, _, _ := strings.Cut(m[1], ": ") // the names a bullet is about come before its colon
		names := family.FindAllStringSubmatch(head, -1)
		if len(names) != 1 {
			t.Errorf("README metrics bullet %q names %d families before its colon, want 1", m[1], len(names))
			continue
		}
		if n := names[0][1]; listed[n] {
			t.Errorf("README lists %s twice", n)
		} else {
			listed[n] = true
		}
	}

	mem := pixiutest.Start(t, nil)
	red := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://127.0.0.1:6379/0"
		c.Cluster.KeyPrefix = fmt.Sprintf("pixiu-readme-test-%d:", time.Now().UnixNano())
	})
	waitMetric(t, red.Addr, "pixiu_engine_ready", equal(1))
	exposed := map[string]bool{}
	for _, addr := range []string{mem.Addr, red.Addr} {
		fams := exposedFamilies(t, addr)
		for n := range fams {
			// exposedFamilies adds a histogram's or summary's series names: not families.
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if base == n || !fams[base] {
				exposed[n] = true
			}
		}
	}
	var missing, extra []string
	for n := range exposed {
		if !listed[n] {
			missing = append(missing, n)
		}
	}
	for n := range listed {
		if !exposed[n] {
			extra = append(extra, n)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("README's metrics list lacks %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("README lists families /metrics does not expose: %v", extra)
	}
	if len(listed) < 60 {
		t.Errorf("README lists %d families, want them all", len(listed))
	}
}
