package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixiu-io/pixiu/internal/metrics"
)

// historyMetrics is the channel history family (issue 15), read from the
// engine's counters at scrape time. The kept-now gauges are emitted only by
// engines that hold history in this process (memory).
func (s *Server) historyMetrics() metrics.Scrape {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	appended := d("pixiu_history_appended_total", "Events appended to channel history by this node's publishes.")
	dropped := d("pixiu_history_dropped_total", "Kept events dropped early to stay within limits.history_max_bytes.")
	events := d("pixiu_history_events", "Events kept in channel history (in-memory engine).")
	bytes := d("pixiu_history_bytes", "Approximate bytes channel history takes (in-memory engine; bound: limits.history_max_bytes).")
	channels := d("pixiu_history_channels", "Channels with kept events (in-memory engine).")
	return func(emit metrics.Emit) {
		st := s.hub.Engine().HistoryStats()
		emit(metrics.Counter(appended, float64(st.Appended)))
		emit(metrics.Counter(dropped, float64(st.Dropped)))
		if st.Events >= 0 {
			emit(metrics.Gauge(events, float64(st.Events)))
			emit(metrics.Gauge(bytes, float64(st.Bytes)))
			emit(metrics.Gauge(channels, float64(st.Channels)))
		}
	}
}
