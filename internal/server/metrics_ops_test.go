package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// waitMetric polls /metrics until ok holds for the series' value (absent
// series read as -1).
func waitMetric(t *testing.T, addr, series string, ok func(float64) bool) map[string]float64 {
	t.Helper()
	var m map[string]float64
	pixiutest.WaitFor(t, 20*time.Second, func() error {
		m = scrape(t, addr)
		v, present := m[series]
		if !present {
			v = -1
		}
		if !ok(v) {
			return fmt.Errorf("%s = %v", series, v)
		}
		return nil
	})
	return m
}

func above(x float64) func(float64) bool { return func(v float64) bool { return v > x } }
func equal(x float64) func(float64) bool { return func(v float64) bool { return v == x } }

// TestMetricsLatencyTrafficQuota: a REST publish reaching one subscriber is
// one observation of the publish→last-write histogram; the bytes of the
// WebSocket, the REST call answered on a loop and the net/http scrapes are
// counted by path; a publish over the daily quota is counted for its app.
func TestMetricsLatencyTrafficQuota(t *testing.T) {
	t.Parallel()
	app := pixiutest.App("q", "q-key", "q-secret", func(s *apps.Settings) { s.DailyMessageQuota = 1 })
	s := pixiutest.Start(t, func(c *config.Config) { c.Apps = []apps.App{app} })
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("m", "", "", "")
	const count = "pixiu_publish_latency_seconds_count"
	m := scrape(t, s.Addr)
	before, ok := m[count]
	if !ok {
		t.Fatalf("no %s in /metrics", count)
	}
	s.REST().Trigger(t, []string{"m"}, "e", "1")
	c.Expect("e")
	m = waitMetric(t, s.Addr, count, equal(before+1))
	if inf := m[`pixiu_publish_latency_seconds_bucket{le="+Inf"}`]; inf != before+1 {
		t.Errorf("+Inf bucket %v, want %v", inf, before+1)
	}
	if sum := m["pixiu_publish_latency_seconds_sum"]; sum <= 0 || sum > 60 {
		t.Errorf("latency sum %v s, want a small positive figure", sum)
	}
	// No subscriber on the channel: no observation.
	if st, body := s.REST().Do(t, "POST", "/apps/q/events", "", map[string]any{"name": "e", "channels": []string{"none"}, "data": "1"}); st != http.StatusForbidden {
		t.Fatalf("publish over the quota: %d %s, want 403", st, body)
	}
	m = waitMetric(t, s.Addr, `pixiu_publishes_over_quota_total{app_id="q"}`, equal(1))
	if m[count] != before+1 {
		t.Errorf("%s = %v after a publish to no subscriber, want %v", count, m[count], before+1)
	}
	for _, path := range []string{"websocket", "rest", "http"} {
		for _, dir := range []string{"received", "sent"} {
			k := fmt.Sprintf(`pixiu_%s_bytes_total{path=%q}`, dir, path)
			if m[k] <= 0 {
				t.Errorf("%s = %v, want > 0", k, m[k])
			}
		}
	}
	// A WebSocket frame the client sends is counted as it is read.
	in := m[`pixiu_received_bytes_total{path="websocket"}`]
	c.Send("pusher:ping", "", map[string]any{})
	c.Expect("pusher:pong")
	waitMetric(t, s.Addr, `pixiu_received_bytes_total{path="websocket"}`, above(in))
}

// TestMetricsWebhookOutboxAge: with the receiver failing, the oldest
// waiting webhook event ages in pixiu_webhook_outbox_age_seconds; once it
// is delivered the age is 0 again.
func TestMetricsWebhookOutboxAge(t *testing.T) {
	t.Parallel()
	rcv := pixiutest.NewReceiver(t)
	rcv.Fail(2)
	s := pixiutest.Start(t, withWebhooks(time.Millisecond, apps.Webhook{URL: rcv.URL}))
	m := scrape(t, s.Addr)
	if v, ok := m["pixiu_webhook_outbox_age_seconds"]; !ok || v != 0 {
		t.Fatalf("pixiu_webhook_outbox_age_seconds = %v (present %v), want 0 with nothing waiting", v, ok)
	}
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("w", "", "", "")
	waitMetric(t, s.Addr, `pixiu_webhook_requests_total{result="failed"}`, above(0))
	waitMetric(t, s.Addr, "pixiu_webhook_outbox_age_seconds", above(0))
	rcv.WaitEvents(t, has("channel_occupied", "w", 1))
	waitMetric(t, s.Addr, "pixiu_webhook_outbox_age_seconds", equal(0))
}
