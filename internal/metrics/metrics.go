// Package metrics serves /metrics in the Prometheus exposition format from
// its own registry (never the client library's global default): the Go
// runtime, process and build-info collectors plus the server's collectors, which read
// counters the hot path keeps itself (atomics) at scrape time. Nothing here
// runs on the hot path.
package metrics

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Emit hands one sample of a family to the scrape in progress.
type Emit func(m prometheus.Metric)

// Scrape is a prometheus.Collector whose samples are computed by a function
// at scrape time. It is unchecked (Describe sends nothing): the label values
// (apps, codes) are only known when scraped.
type Scrape func(emit Emit)

// Describe implements prometheus.Collector; an unchecked collector sends
// nothing.
func (Scrape) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (f Scrape) Collect(ch chan<- prometheus.Metric) { f(func(m prometheus.Metric) { ch <- m }) }

// New returns a registry with the Go runtime, process and build-info
// collectors and cs,
// and the handler that serves it. Collection errors are served as HTTP 500
// with the error (promhttp.HTTPErrorOnError).
func New(cs ...prometheus.Collector) (*prometheus.Registry, http.Handler, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(), // go_build_info{path,version,checksum}
	}, cs...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError, Registry: reg})
	return reg, h, nil
}

// Gauge returns a gauge sample of d; labels are d's variable label values.
func Gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// Counter returns a counter sample of d; labels are d's variable label values.
func Counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
