package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pixiu-io/pixiu/internal/webhook"
)

// metrics serves GET /metrics in the Prometheus text exposition format: per
// app connections and messages (as Pusher counts them), quotas, webhook
// delivery counters and engine readiness. Figures are this node's, except
// messages today, which the usage store sums over the cluster.
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	list := s.apps.List()
	gauge := func(name, help string, value func(id string) int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, a := range list {
			fmt.Fprintf(&b, "%s{app_id=%q} %d\n", name, a.ID, value(a.ID))
		}
	}
	gauge("pixiu_connections", "Open WebSocket connections on this node.",
		func(id string) int64 { return int64(s.hub.Connections(id)) })
	if s.usage != nil {
		gauge("pixiu_messages_today", "Messages counted today (UTC): publishes, deliveries, webhooks.",
			func(id string) int64 { return s.usage.Stats(id).Messages })
		gauge("pixiu_connections_peak_today", "Most concurrent connections today on this node.",
			func(id string) int64 { return s.usage.Stats(id).PeakToday })
	}
	gauge("pixiu_daily_message_quota", "Daily message quota (0 = unlimited).", func(id string) int64 {
		if a, err := s.apps.ByID(id); err == nil {
			return a.DailyMessageQuota
		}
		return 0
	})
	if s.webhooks != nil {
		st := s.webhooks.Stats()
		counter(&b, "pixiu_webhook_requests_total", "Webhook requests by result.", "result",
			[]string{"sent", "failed", "retried", "dead_lettered"}, []int64{st.Sent, st.Failed, st.Retried, st.DeadLettered})
		counter(&b, "pixiu_webhook_events_total", "Webhook events by fate.", "fate",
			[]string{"queued", "sent", "spilled", "dropped", "suppressed"},
			[]int64{st.Queued, st.SentEvents, st.Spilled, st.Dropped, st.Suppressed})
		counter(&b, "pixiu_webhook_events_dropped_total", "Webhook events lost before reaching the outbox, by reason.",
			"reason", webhook.DropReasons(), st.DroppedBy[:])
		fmt.Fprintf(&b, "# HELP pixiu_webhook_outbox_events Webhook events waiting in the outbox (cap: webhooks.max_outbox_events).\n"+
			"# TYPE pixiu_webhook_outbox_events gauge\npixiu_webhook_outbox_events %d\n"+
			"# HELP pixiu_webhook_dead_letters_pruned_total Dead letters deleted past webhooks.dead_letter_retention.\n"+
			"# TYPE pixiu_webhook_dead_letters_pruned_total counter\npixiu_webhook_dead_letters_pruned_total %d\n",
			st.OutboxEvents, st.Pruned)
		fmt.Fprintf(&b, "# HELP pixiu_webhook_latency_seconds Webhook request latency.\n# TYPE pixiu_webhook_latency_seconds gauge\n"+
			"pixiu_webhook_latency_seconds{stat=\"mean\"} %g\npixiu_webhook_latency_seconds{stat=\"max\"} %g\n",
			st.LatencyMean.Seconds(), st.LatencyMax.Seconds())
	}
	fmt.Fprintf(&b, "# HELP pixiu_outbound_bytes Outbound bytes held in memory for all sockets (bounded by max_outbound_bytes).\n"+
		"# TYPE pixiu_outbound_bytes gauge\npixiu_outbound_bytes %d\n", s.transport.OutboundBytes())
	fmt.Fprintf(&b, "# HELP pixiu_outbound_budget_closed_total Connections closed with 4100 because max_outbound_bytes was exceeded.\n"+
		"# TYPE pixiu_outbound_budget_closed_total counter\npixiu_outbound_budget_closed_total %d\n", s.transport.BudgetClosed())
	ready := 1
	if s.hub.Engine().Ready() != nil {
		ready = 0
	}
	fmt.Fprintf(&b, "# HELP pixiu_engine_ready Whether the cluster engine can serve (1) or not (0).\n"+
		"# TYPE pixiu_engine_ready gauge\npixiu_engine_ready %d\n", ready)
	_, _ = io.WriteString(w, b.String())
}

func counter(b *strings.Builder, name, help, label string, keys []string, values []int64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	for i, k := range keys {
		fmt.Fprintf(b, "%s{%s=%q} %d\n", name, label, k, values[i])
	}
}
