package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixiu-io/pixiu/internal/buildinfo"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
	"github.com/pixiu-io/pixiu/internal/metrics"
	"github.com/pixiu-io/pixiu/internal/restapi"
	"github.com/pixiu-io/pixiu/internal/usage"
	"github.com/pixiu-io/pixiu/internal/webhook"
	"github.com/pixiu-io/pixiu/internal/wsconn"
)

// metricDescs are the server's own families, described once. Figures are
// this node's, except messages today, which the usage store sums over the
// cluster.
type metricDescs struct {
	perApp                                                                       bool // app_id label (metrics.per_app_labels)
	connections, messagesToday, peakToday, quota, subscriptions, channels        *prometheus.Desc
	opened, closed, published, deliveries, slowClosed, restRequests              *prometheus.Desc
	webhookRequests, webhookEvents, webhookDropped, webhookOutbox, webhookPruned *prometheus.Desc
	webhookLatency, outboundBytes, budgetClosed, engineReady                     *prometheus.Desc
	fdRefused                                                                    *prometheus.Desc
	bytesIn, bytesOut, webhookAge, overQuota                                     *prometheus.Desc
	redisErrors, redisReconnects, redisDropped                                   *prometheus.Desc
}

func newMetricDescs(perApp bool) *metricDescs {
	var app []string
	if perApp {
		app = []string{"app_id"}
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metricDescs{
		perApp:          perApp,
		connections:     d("pixiu_connections", "Open WebSocket connections on this node.", app...),
		messagesToday:   d("pixiu_messages_today", "Messages counted today (UTC): publishes, deliveries, webhooks.", app...),
		peakToday:       d("pixiu_connections_peak_today", "Most concurrent connections today on this node.", app...),
		quota:           d("pixiu_daily_message_quota", "Daily message quota (0 = unlimited).", app...),
		subscriptions:   d("pixiu_subscriptions", "Channel subscriptions of this node's connections.", app...),
		channels:        d("pixiu_channels", "Channels with at least one subscriber on this node.", app...),
		opened:          d("pixiu_connections_opened_total", "WebSocket connections established on this node."),
		closed:          d("pixiu_connections_closed_total", "Established connections closed, by close code sent or received (1006: none; other: any code not listed).", "code"),
		published:       d("pixiu_messages_published_total", "Events published on this node, by source (a batch counts each event).", "source"),
		deliveries:      d("pixiu_deliveries_total", "Event frames queued to this node's sockets."),
		restRequests:    d("pixiu_rest_requests_total", "REST API requests answered by its handlers, by method, route template (unmatched: 404) and status (other: any status not listed).", "method", "route", "status"),
		slowClosed:      d("pixiu_slow_consumer_closed_total", "Connections closed with 4100: outbound buffer (max_pending_bytes) or budget (max_outbound_bytes) exceeded."),
		webhookRequests: d("pixiu_webhook_requests_total", "Webhook requests by result.", "result"),
		webhookEvents:   d("pixiu_webhook_events_total", "Webhook events by fate.", "fate"),
		webhookDropped:  d("pixiu_webhook_events_dropped_total", "Webhook events lost before reaching the outbox, by reason.", "reason"),
		webhookOutbox:   d("pixiu_webhook_outbox_events", "Webhook events waiting in the outbox (cap: webhooks.max_outbox_events)."),
		webhookPruned:   d("pixiu_webhook_dead_letters_pruned_total", "Dead letters deleted past webhooks.dead_letter_retention."),
		webhookLatency:  d("pixiu_webhook_latency_seconds", "Webhook request latency.", "stat"),
		outboundBytes:   d("pixiu_outbound_bytes", "Outbound bytes held in memory for all sockets (bounded by max_outbound_bytes)."),
		budgetClosed:    d("pixiu_outbound_budget_closed_total", "Connections closed with 4100 because max_outbound_bytes was exceeded."),
		fdRefused:       d("pixiu_connections_refused_descriptors_total", "Connections closed on accept because the process was near its descriptor limit."),
		engineReady:     d("pixiu_engine_ready", "Whether the cluster engine can serve (1) or not (0)."),
		bytesIn:         d("pixiu_received_bytes_total", "Bytes read on the public port, by path: websocket (Pusher connections), rest (REST answered on the event loops), http (net/http: console, demo, metrics, REST in cluster mode).", "path"),
		bytesOut:        d("pixiu_sent_bytes_total", "Bytes written on the public port, by path (as pixiu_received_bytes_total).", "path"),
		webhookAge:      d("pixiu_webhook_outbox_age_seconds", "How long the longest-waiting webhook event in the outbox has waited (0: none waits)."),
		overQuota:       d("pixiu_publishes_over_quota_total", "Publishes (REST, event creator) refused because the app's daily_message_quota was used up.", app...),
		redisErrors:     d("pixiu_redis_errors_total", "Redis engine errors: reply (Redis refused a call) or connection (network error or timeout, heartbeats included).", "kind"),
		redisReconnects: d("pixiu_redis_reconnects_total", "Redis engine reconnections after a loss: commands (Redis reachable again) or pubsub (pub/sub connection whole again).", "conn"),
		redisDropped:    d("pixiu_redis_pubsub_dropped_total", "Pub/sub messages from Redis dropped because they could not be decoded."),
	}
}

// latencyBuckets span a fan-out to a few sockets on an idle node (tens of
// microseconds) to a congested one (seconds).
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// newLatencyHistogram returns the publish→last-write histogram; Observe is
// lock-free (atomic adds), called once per delivered message.
func newLatencyHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pixiu_publish_latency_seconds",
		Help:    "Publish to last write: from a message reaching this node's hub (the publish call, or its arrival from Redis) to the last of its frames handed to a socket, once per message that reached a local socket.",
		Buckets: latencyBuckets,
	})
}

// countOverQuota counts one publish refused over app's quota.
func (s *Server) countOverQuota(appID string) {
	v, ok := s.overQuota.Load(appID)
	if !ok {
		v, _ = s.overQuota.LoadOrStore(appID, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// wireMetrics builds the /metrics handler over its own registry: Go runtime,
// process and the server's families, read from the parts' counters at
// scrape time.
func (s *Server) wireMetrics() (http.Handler, error) {
	d := newMetricDescs(s.cfg.Metrics.AppLabels())
	_, h, err := metrics.New(metrics.Scrape(func(emit metrics.Emit) { s.collect(d, emit) }), s.historyMetrics(), s.latency, buildInfoMetric(buildinfo.Get()))
	return h, err
}

// buildInfoMetric is pixiu_build_info{version,commit,build_date,goversion} 1:
// what `pixiu version` says, for dashboards and alerts on mixed versions
// (go_build_info carries only the module's VCS stamp).
func buildInfoMetric(bi buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pixiu_build_info",
		Help: "The running build: version, commit and build date as `pixiu version` reports them; always 1.",
		ConstLabels: prometheus.Labels{
			"version": bi.Version, "commit": bi.Commit, "build_date": bi.Date, "goversion": bi.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// collect emits the server's families; it runs on the scraping goroutine.
func (s *Server) collect(d *metricDescs, emit metrics.Emit) {
	gauge, counter := metrics.Gauge, metrics.Counter
	s.collectApps(d, emit)
	st := s.transport.Stats()
	emit(counter(d.opened, float64(st.Opened)))
	for i, code := range wsconn.CloseCodeLabels() {
		emit(counter(d.closed, float64(st.Closed[i]), code))
	}
	emit(counter(d.slowClosed, float64(st.SlowConsumerClosed)))
	var console int64
	if s.console != nil {
		console = s.console.Published()
	}
	emit(counter(d.published, float64(s.api.Published()), "rest"))
	emit(counter(d.published, float64(s.hub.ClientEvents()), "client_event"))
	emit(counter(d.published, float64(console), "console"))
	emit(counter(d.deliveries, float64(s.deliveries.Load())))
	statuses := restapi.RequestStatusLabels()
	for _, rr := range s.api.Requests() {
		for i, n := range rr.ByStatus {
			emit(counter(d.restRequests, float64(n), rr.Method, rr.Route, statuses[i]))
		}
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
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if age, err := s.webhooks.OutboxAge(ctx); err == nil {
			emit(gauge(d.webhookAge, age.Seconds()))
		}
		cancel()
	}
	b := s.transport.Bytes()
	for _, x := range []struct {
		path    string
		in, out int64
	}{{"websocket", b.WebSocketIn, b.WebSocketOut}, {"rest", b.RESTIn, b.RESTOut}, {"http", b.HTTPIn, b.HTTPOut}} {
		emit(counter(d.bytesIn, float64(x.in), x.path))
		emit(counter(d.bytesOut, float64(x.out), x.path))
	}
	if r, ok := s.hub.Engine().(*redis.Engine); ok {
		st := r.Stats()
		emit(counter(d.redisErrors, float64(st.ReplyErrors), "reply"))
		emit(counter(d.redisErrors, float64(st.ConnErrors), "connection"))
		emit(counter(d.redisReconnects, float64(st.Reconnects), "commands"))
		emit(counter(d.redisReconnects, float64(st.PubSubReconnects), "pubsub"))
		emit(counter(d.redisDropped, float64(st.PubSubDropped)))
	}
	emit(gauge(d.outboundBytes, float64(s.transport.OutboundBytes())))
	emit(counter(d.budgetClosed, float64(s.transport.BudgetClosed())))
	emit(counter(d.fdRefused, float64(s.transport.DescriptorRefused())))
	ready := 1.0
	if s.hub.Engine().Ready() != nil {
		ready = 0
	}
	emit(gauge(d.engineReady, ready))
}

// collectApps emits the per-app families: one series per app with app_id,
// else one sum per family (peak and quota, which do not add up, are left out).
func (s *Server) collectApps(d *metricDescs, emit metrics.Emit) {
	gauge := metrics.Gauge
	occ := s.hub.Occupancy()
	overQuota := func(id string) int64 {
		if v, ok := s.overQuota.Load(id); ok {
			return v.(*atomic.Int64).Load()
		}
		return 0
	}
	var conns, msgs, subs, chans int64
	for _, a := range s.apps.List() {
		c, o := int64(s.hub.Connections(a.ID)), occ[a.ID]
		var st usage.Stats
		if s.usage != nil {
			st = s.usage.Stats(a.ID)
		}
		if !d.perApp {
			conns, msgs, subs, chans = conns+c, msgs+st.Messages, subs+int64(o.Subscriptions), chans+int64(o.Channels)
			continue
		}
		emit(gauge(d.connections, float64(c), a.ID))
		if s.usage != nil {
			emit(gauge(d.messagesToday, float64(st.Messages), a.ID))
			emit(gauge(d.peakToday, float64(st.PeakToday), a.ID))
		}
		emit(gauge(d.quota, float64(a.DailyMessageQuota), a.ID))
		emit(metrics.Counter(d.overQuota, float64(overQuota(a.ID)), a.ID))
		emit(gauge(d.subscriptions, float64(o.Subscriptions), a.ID))
		emit(gauge(d.channels, float64(o.Channels), a.ID))
	}
	if d.perApp {
		return
	}
	var refused int64
	s.overQuota.Range(func(_, v any) bool { refused += v.(*atomic.Int64).Load(); return true })
	emit(metrics.Counter(d.overQuota, float64(refused)))
	emit(gauge(d.connections, float64(conns)))
	if s.usage != nil {
		emit(gauge(d.messagesToday, float64(msgs)))
	}
	emit(gauge(d.subscriptions, float64(subs)))
	emit(gauge(d.channels, float64(chans)))
}
