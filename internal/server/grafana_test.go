package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// exposedFamilies returns the metric families /metrics at addr declares
// (# TYPE lines), with a histogram's _bucket, _sum and _count series.
func exposedFamilies(t *testing.T, addr string) map[string]bool {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		out[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f[2]+s] = true
			}
		}
	}
	return out
}

// TestGrafanaDashboard parses docs/grafana/pixiu.json and checks that every
// query names only families a server exposes (here one on the Redis engine,
// which adds its families to the memory engine's), so the dashboard cannot
// drift from /metrics.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/grafana/pixiu.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana/pixiu.json: %v", err)
	}
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://127.0.0.1:6379/0"
		c.Cluster.KeyPrefix = fmt.Sprintf("pixiu-grafana-test-%d:", time.Now().UnixNano())
	})
	waitMetric(t, s.Addr, "pixiu_engine_ready", equal(1))
	exposed := exposedFamilies(t, s.Addr)
	name := regexp.MustCompile(`\b(?:pixiu|go|process)_[a-z_]+\b`)
	exprs, used := 0, map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs++
			names := name.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !exposed[n] {
					t.Errorf("panel %q: %s is not exposed by /metrics (%q)", p.Title, n, tg.Expr)
				}
			}
		}
	}
	if exprs < 20 {
		t.Errorf("%d queries, want the dashboard's full set", exprs)
	}
	// The families the issue asks operators to see are all on it.
	for _, n := range []string{"pixiu_publish_latency_seconds_bucket", "pixiu_received_bytes_total", "pixiu_sent_bytes_total",
		"pixiu_slow_consumer_closed_total", "pixiu_redis_errors_total", "pixiu_webhook_outbox_age_seconds",
		"pixiu_webhook_requests_total", "pixiu_publishes_over_quota_total", "pixiu_connections_closed_total"} {
		if !used[n] {
			t.Errorf("the dashboard does not use %s", n)
		}
	}
}
