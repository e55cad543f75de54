package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/buildinfo"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// scrape reads /metrics at addr into series ("name{labels}" as exposed) →
// value, failing on a line it cannot parse.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	// Not the default client: its kept-alive connection, served by net/http,
	// would carry the test's REST calls there too, off the event loops.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("unparsable /metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparsable /metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// expectMetrics polls /metrics until every series in want has its value.
func expectMetrics(t *testing.T, addr string, want map[string]float64) map[string]float64 {
	t.Helper()
	var m map[string]float64
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		m = scrape(t, addr)
		for k, v := range want {
			if got, ok := m[k]; !ok || got != v {
				return fmt.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
			}
		}
		return nil
	})
	return m
}

// TestMetricsFamilies follows one connection through subscribe, a REST
// publish, a client event and its close, and reads each step in /metrics
// (served from the server's own registry, with the Go runtime and process
// collectors).
func TestMetricsFamilies(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	app := `{app_id="app-id"}`
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("m", "", "", "")
	c.Subscribe("private-m", s.App.Key, s.App.Secret, "")
	expectMetrics(t, s.Addr, map[string]float64{
		"pixiu_connections" + app: 1, "pixiu_connections_opened_total": 1,
		"pixiu_subscriptions" + app: 2, "pixiu_channels" + app: 2,
	})
	s.REST().Trigger(t, []string{"m"}, "e", "1")
	c.Expect("e")
	c.Send("client-x", "private-m", "{}")
	expectMetrics(t, s.Addr, map[string]float64{
		`pixiu_messages_published_total{source="rest"}`:         1,
		`pixiu_messages_published_total{source="client_event"}`: 1,
		`pixiu_messages_published_total{source="console"}`:      0,
		// the event and each channel's subscription_count (the client
		// event goes to no other socket)
		"pixiu_deliveries_total": 3,
	})
	if st, _ := s.REST().Do(t, "GET", "/apps/app-id/nope", "", nil); st != http.StatusNotFound {
		t.Fatalf("GET /apps/app-id/nope: %d, want 404", st)
	}
	resp, err := http.Post("http://"+s.Addr+"/apps/app-id/events", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // unsigned: 401
	events := `pixiu_rest_requests_total{method="POST",route="/apps/{app_id}/events",status=`
	expectMetrics(t, s.Addr, map[string]float64{
		events + `"200"}`: 1, events + `"401"}`: 1, events + `"413"}`: 0, events + `"other"}`: 0,
		`pixiu_rest_requests_total{method="",route="unmatched",status="404"}`:                                 1,
		`pixiu_rest_requests_total{method="GET",route="/apps/{app_id}/channels/{channel_name}",status="200"}`: 0,
	})
	c.CloseWith(1000)
	if code := c.WaitClosed(); code != 1000 {
		t.Fatalf("close echoed with %d, want 1000", code)
	}
	m := expectMetrics(t, s.Addr, map[string]float64{
		`pixiu_connections_closed_total{code="1000"}`: 1, `pixiu_connections_closed_total{code="1006"}`: 0,
		`pixiu_connections_closed_total{code="other"}`: 0, "pixiu_slow_consumer_closed_total": 0,
		"pixiu_connections" + app: 0, "pixiu_subscriptions" + app: 0, "pixiu_channels" + app: 0,
		"pixiu_connections_opened_total": 1, "pixiu_outbound_budget_closed_total": 0, "pixiu_engine_ready": 1,
	})
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_alloc_bytes"} {
		if m[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, m[name])
		}
	}
	codes, build, pixiuBuild := 0, 0, 0
	want := buildinfo.Get()
	for k, v := range m {
		if strings.HasPrefix(k, "pixiu_build_info{") && v == 1 &&
			strings.Contains(k, `version="`+want.Version+`"`) && strings.Contains(k, `commit="`+want.Commit+`"`) &&
			strings.Contains(k, `goversion="`+want.GoVersion+`"`) {
			pixiuBuild++
		}
		if strings.HasPrefix(k, "pixiu_connections_closed_total{") {
			codes++
		}
		if strings.HasPrefix(k, "go_build_info{") && v == 1 {
			build++
		}
	}
	if build != 1 {
		t.Errorf("%d go_build_info series with value 1, want 1", build)
	}
	if pixiuBuild != 1 {
		t.Errorf("%d pixiu_build_info series with this build's version, commit and Go version, want 1", pixiuBuild)
	}
	if codes != 23 { // 22 named codes + other: a bounded label set
		t.Errorf("pixiu_connections_closed_total has %d series, want 23", codes)
	}
}

// TestMetricsWithoutAppLabels: metrics.per_app_labels=false sums the per-app
// families into one series each and leaves out peak and quota.
func TestMetricsWithoutAppLabels(t *testing.T) {
	t.Parallel()
	off := false
	s := pixiutest.Start(t, func(c *config.Config) { c.Metrics.PerAppLabels = &off })
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("m", "", "", "")
	m := expectMetrics(t, s.Addr, map[string]float64{"pixiu_connections": 1, "pixiu_subscriptions": 1, "pixiu_channels": 1})
	for k := range m {
		if strings.Contains(k, "app_id=") || strings.HasPrefix(k, "pixiu_daily_message_quota") || strings.HasPrefix(k, "pixiu_connections_peak_today") {
			t.Errorf("series %s with per_app_labels=false", k)
		}
	}
}
