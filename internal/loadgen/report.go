package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// report is a scenario's result: an ordered list of named figures. Names carry
// their unit as a suffix (_ms, _us, _kb, _per_sec) so the JSON needs no
// schema.
type report struct {
	fields []field
	failed []string // reasons the run does not meet its own correctness checks
}

type field struct {
	name  string
	value any
}

func (r *report) add(name string, v any) { r.fields = append(r.fields, field{name, v}) }

func (r *report) fail(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *report) ms(name string, d time.Duration) { r.add(name, round(float64(d)/1e6, 3)) }

// addProc adds the server's and the tool's CPU over [a, b].
func (r *report) addProc(a, b sample, perName string, per int64) {
	wall := b.at.Sub(a.at)
	self := b.self - a.self
	r.add("tool_cpu_ms", round(float64(self)/1e6, 1))
	r.add("tool_cpu_cores", round(float64(self)/float64(max(wall, 1)), 2))
	if a.err != nil || b.err != nil {
		r.add("server_stats_error", fmt.Sprint(errOr(a.err, b.err)))
		return
	}
	if b.server == (procSample{}) {
		return
	}
	cpu := b.server.CPU - a.server.CPU
	r.add("server_cpu_ms", round(float64(cpu)/1e6, 1))
	r.add("server_cpu_cores", round(float64(cpu)/float64(max(wall, 1)), 2))
	if per > 0 {
		r.add("server_cpu_us_per_"+perName, round(float64(cpu)/1e3/float64(per), 3))
	}
	r.add("server_rss_kb", b.server.RSS>>10)
	if len(a.servers) > 1 && len(a.servers) == len(b.servers) {
		cpus := make([]float64, len(a.servers))
		for i := range a.servers {
			d := b.servers[i].CPU - a.servers[i].CPU
			cpus[i] = round(float64(d)/1e6, 1)
			if per > 0 {
				cpus[i] = round(float64(d)/1e3/float64(per), 3)
			}
		}
		if per > 0 {
			r.add("server_cpu_us_per_"+perName+"_by_process", cpus)
		} else {
			r.add("server_cpu_ms_by_process", cpus)
		}
	}
}

// addRedis adds the Redis processes' CPU over [a, b], per published event.
func (r *report) addRedis(a, b sample, events int64) {
	if len(a.redis) == 0 || len(a.redis) != len(b.redis) {
		return
	}
	var cpu time.Duration
	for i := range a.redis {
		cpu += b.redis[i].CPU - a.redis[i].CPU
	}
	r.add("redis_cpu_ms", round(float64(cpu)/1e6, 1))
	r.add("redis_cpu_cores", round(float64(cpu)/float64(max(b.at.Sub(a.at), 1)), 2))
	if events > 0 {
		r.add("redis_cpu_us_per_event", round(float64(cpu)/1e3/float64(events), 2))
	}
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (r *report) addLatency(prefix string, h *histogram) {
	r.add(prefix+"_samples", h.n)
	r.ms(prefix+"_p50_ms", h.quantile(0.50))
	r.ms(prefix+"_p90_ms", h.quantile(0.90))
	r.ms(prefix+"_p99_ms", h.quantile(0.99))
	r.ms(prefix+"_max_ms", h.quantile(1))
	r.ms(prefix+"_mean_ms", h.mean())
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// write prints the report as aligned text or one JSON object.
func (r *report) write(w io.Writer, asJSON bool) error {
	if asJSON {
		var b strings.Builder
		b.WriteByte('{')
		for i, f := range r.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(f.name)
			v, err := json.Marshal(f.value)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		if len(r.fields) > 0 {
			b.WriteByte(',')
		}
		failed, _ := json.Marshal(append([]string{}, r.failed...))
		b.WriteString(`"ok":` + fmt.Sprint(len(r.failed) == 0) + `,"failures":` + string(failed) + "}\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	width := 0
	for _, f := range r.fields {
		width = max(width, len(f.name))
	}
	var b strings.Builder
	for _, f := range r.fields {
		var v string
		switch x := f.value.(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			v = x
		default:
			j, _ := json.Marshal(x)
			v = string(j)
		}
		fmt.Fprintf(&b, "%-*s  %s\n", width, f.name, v)
	}
	if len(r.failed) == 0 {
		b.WriteString("result: ok\n")
	}
	for _, m := range r.failed {
		b.WriteString("FAIL: " + m + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
