package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// scrape reads /metrics at addr into series ("name{labels}" as exposed) →
// value, failing on a line it cannot parse.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
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
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unparsable /metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsRuntimeAndProcess: /metrics is served from the server's own
// registry with the Go runtime and process collectors next to Pixiu's
// families.
func TestMetricsRuntimeAndProcess(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("m", "", "", "")
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		m := scrape(t, s.Addr)
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_alloc_bytes"} {
			if m[name] <= 0 {
				return fmt.Errorf("%s = %v, want > 0", name, m[name])
			}
		}
		if v := m[`pixiu_connections{app_id="app-id"}`]; v != 1 {
			return fmt.Errorf("pixiu_connections = %v, want 1", v)
		}
		return nil
	})
}
