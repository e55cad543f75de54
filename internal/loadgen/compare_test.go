package loadgen

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The table reports medians, ranges and the ratio of the medians, and counts
// loss, duplicates and failed runs over every run.
func TestCompareTable(t *testing.T) {
	t.Parallel()
	var runs []compareRun
	for i, v := range []float64{30, 10, 20} {
		runs = append(runs,
			compareRun{Server: "pixiu", Scenario: "churn", Round: i + 1, LoadAvg: "3.5 2 1",
				Report: map[string]any{"cycles_per_sec": v * 2, "ok": true}},
			compareRun{Server: "soketi", Scenario: "churn", Round: i + 1, LoadAvg: "1.5 2 1",
				Report: map[string]any{"cycles_per_sec": v, "ok": true, "lost": 2.0}})
	}
	runs = append(runs, compareRun{Server: "soketi", Scenario: "churn", Round: 4, Error: "did not start"},
		compareRun{Server: "pixiu", Scenario: "churn", Round: 5, Report: map[string]any{"cycles_per_sec": 1e6, "ok": false, "failures": []any{"lost 3"}}})
	var out bytes.Buffer
	sc := compareScenarios()
	writeCompareTable(&out, time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC), 3, sc[1:2], runs)
	got := out.String()
	for _, want := range []string{
		"2026-12-06 23:00 UTC", "load average during the runs: 1.5–3.5",
		"| churn | connect → subscribe → close cycles/s, 64 workers | 40.0 [20.0–60.0] | 20.0 [10.0–30.0] | 2.00× |",
		"| churn | server CPU per cycle (µs) | – | – | – |",
		"messages lost: 6, duplicated: 0, failed runs (left out of the figures): 2 of 8",
		"- churn on soketi, round 4: did not start",
		"- churn on pixiu, round 5: [lost 3]",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("missing %q in\n%s", want, got)
		}
	}
}

func TestCompareRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--scenarios", "idle,nope"},
		{"--pixiu", "/nonexistent/pixiu"},
		{"--rounds", "0"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), append([]string{"compare"}, args...), &bytes.Buffer{}, &stderr); code != exitUsage {
			t.Fatalf("compare %v: exit %d, want %d (%s)", args, code, exitUsage, stderr.String())
		}
	}
}
