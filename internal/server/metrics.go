package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixiu-io/pixiu/internal/metrics"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// metricDescs are the server's own families, described once. Figures are
// this node's, except messages today, which the usage store sums over the
// cluster.
type metricDescs struct {
	connections, messagesToday, peakToday, quota                                 *prometheus.Desc
	webhookRequests, webhookEvents, webhookDropped, webhookOutbox, webhookPruned *prometheus.Desc
	webhookLatency, outboundBytes, budgetClosed, engineReady                     *prometheus.Desc
}

func newMetricDescs() *metricDescs {
	app := []string{"app_id"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metricDescs{
		connections:     d("pixiu_connections", "Open WebSocket connections on this node.", app...),
		messagesToday:   d("pixiu_messages_today", "Messages counted today (UTC): publishes, deliveries, webhooks.", app...),
		peakToday:       d("pixiu_connections_peak_today", "Most concurrent connections today on this node.", app...),
		quota:           d("pixiu_daily_message_quota", "Daily message quota (0 = unlimited).", app...),
		webhookRequests: d("pixiu_webhook_requests_total", "Webhook requests by result.", "result"),
		webhookEvents:   d("pixiu_webhook_events_total", "Webhook events by fate.", "fate"),
		webhookDropped:  d("pixiu_webhook_events_dropped_total", "Webhook events lost before reaching the outbox, by reason.", "reason"),
		webhookOutbox:   d("pixiu_webhook_outbox_events", "Webhook events waiting in the outbox (cap: webhooks.max_outbox_events)."),
		webhookPruned:   d("pixiu_webhook_dead_letters_pruned_total", "Dead letters deleted past webhooks.dead_letter_retention."),
		webhookLatency:  d("pixiu_webhook_latency_seconds", "Webhook request latency.", "stat"),
		outboundBytes:   d("pixiu_outbound_bytes", "Outbound bytes held in memory for all sockets (bounded by max_outbound_bytes)."),
		budgetClosed:    d("pixiu_outbound_budget_closed_total", "Connections closed with 4100 because max_outbound_bytes was exceeded."),
		engineReady:     d("pixiu_engine_ready", "Whether the cluster engine can serve (1) or not (0)."),
	}
}

// wireMetrics builds the /metrics handler over its own registry: Go runtime,
// process and the server's families, read from the parts' counters at
// scrape time.
func (s *Server) wireMetrics() (http.Handler, error) {
	d := newMetricDescs()
	_, h, err := metrics.New(metrics.Scrape(func(emit metrics.Emit) { s.collect(d, emit) }))
	return h, err
}

// collect emits the server's families; it runs on the scraping goroutine.
func (s *Server) collect(d *metricDescs, emit metrics.Emit) {
	gauge, counter := metrics.Gauge, metrics.Counter
	for _, a := range s.apps.List() {
		emit(gauge(d.connections, float64(s.hub.Connections(a.ID)), a.ID))
		if s.usage != nil {
			st := s.usage.Stats(a.ID)
			emit(gauge(d.messagesToday, float64(st.Messages), a.ID))
			emit(gauge(d.peakToday, float64(st.PeakToday), a.ID))
		}
		emit(gauge(d.quota, float64(a.DailyMessageQuota), a.ID))
	}
	if s.webhooks != nil {
		st := s.webhooks.Stats()
		for i, r := range []string{"sent", "failed", "retried", "dead_lettered"} {
			emit(counter(d.webhookRequests, float64([]int64{st.Sent, st.Failed, st.Retried, st.DeadLettered}[i]), r))
		}
		for i, f := range []string{"queued", "sent", "spilled", "dropped", "suppressed"} {
			emit(counter(d.webhookEvents, float64([]int64{st.Queued, st.SentEvents, st.Spilled, st.Dropped, st.Suppressed}[i]), f))
		}
		for i, r := range webhook.DropReasons() {
			emit(counter(d.webhookDropped, float64(st.DroppedBy[i]), r))
		}
		emit(gauge(d.webhookOutbox, float64(st.OutboxEvents)))
		emit(counter(d.webhookPruned, float64(st.Pruned)))
		emit(gauge(d.webhookLatency, st.LatencyMean.Seconds(), "mean"))
		emit(gauge(d.webhookLatency, st.LatencyMax.Seconds(), "max"))
	}
	emit(gauge(d.outboundBytes, float64(s.transport.OutboundBytes())))
	emit(counter(d.budgetClosed, float64(s.transport.BudgetClosed())))
	ready := 1.0
	if s.hub.Engine().Ready() != nil {
		ready = 0
	}
	emit(gauge(d.engineReady, ready))
}
