package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fakeOptions(t *testing.T, s *fakeServer) runOptions {
	t.Helper()
	tg, err := ResolveTarget(context.Background(), "ws://"+s.addr)
	if err != nil {
		t.Fatal(err)
	}
	// The fake server runs in this process, so /proc/self stands in for it.
	return runOptions{Target: tg, ServerPID: os.Getpid(), Loops: 2, DialWorkers: 8,
		ConnectTimeout: 5 * time.Second, SetupTimeout: 30 * time.Second}
}

func figure(t *testing.T, r *report, name string) any {
	t.Helper()
	for _, f := range r.fields {
		if f.name == name {
			return f.value
		}
	}
	t.Fatalf("report has no %q: %v", name, r.fields)
	return nil
}

func wantFigure(t *testing.T, r *report, name string, want int64) {
	t.Helper()
	if got := fmt.Sprint(figure(t, r, name)); got != strconv.FormatInt(want, 10) {
		t.Errorf("%s = %s, want %d", name, got, want)
	}
}

func checkOK(t *testing.T, r *report, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.failed) > 0 {
		var b bytes.Buffer
		_ = r.write(&b, false)
		t.Fatalf("run failed:\n%s", b.String())
	}
}

func TestScenariosAgainstFakeServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		s := startFakeServer(t)
		r, err := runIdle(ctx, fakeOptions(t, s), idleOptions{Conns: 50, Channels: 3, Settle: time.Millisecond, Hold: 50 * time.Millisecond})
		checkOK(t, r, err)
		wantFigure(t, r, "connected", 50)
		wantFigure(t, r, "subscribed", 50)
		wantFigure(t, r, "closed_by_server", 0)
		figure(t, r, "server_rss_per_conn_kb")
	})
	for _, tc := range []struct {
		name string
		rate float64
	}{{"fanout-flat-out", 0}, {"fanout-paced", 2000}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startFakeServer(t)
			r, err := runFanout(ctx, fakeOptions(t, s), fanoutOptions{Subs: 50, Events: 200, Rate: tc.rate, Window: 20, Drain: 5 * time.Second})
			checkOK(t, r, err)
			wantFigure(t, r, "published", 200)
			wantFigure(t, r, "expected", 50*200)
			wantFigure(t, r, "delivered", 50*200)
			wantFigure(t, r, "lost", 0)
			wantFigure(t, r, "duplicated", 0)
			wantFigure(t, r, "latency_samples", 50*200)
		})
	}
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		s := startFakeServer(t)
		r, err := runSlow(ctx, fakeOptions(t, s), slowOptions{Slow: 5, Normal: 3, Bystander: true, Events: 40, Rate: 400, Size: 200, After: 10 * time.Second, Drain: 5 * time.Second})
		checkOK(t, r, err)
		wantFigure(t, r, "slow_connected", 5)
		wantFigure(t, r, "published", 40)
		wantFigure(t, r, "expected", 4*40) // 3 normal + the bystander
		wantFigure(t, r, "lost", 0)
		figure(t, r, "server_rss_peak_kb")
		if figure(t, r, "fds_recovered_sec") == "never" {
			t.Errorf("descriptors did not come back")
		}
	})
	t.Run("publish", func(t *testing.T) {
		t.Parallel()
		s := startFakeServer(t)
		r, err := runPublish(ctx, fakeOptions(t, s), publishOptions{Publishers: 2, Duration: time.Minute, MaxRequests: 100}) // ends at MaxRequests, however loaded the machine
		checkOK(t, r, err)
		wantFigure(t, r, "requests_ok", 100)
		wantFigure(t, r, "requests_failed", 0)
		if got := s.publishs.Load(); got != 100+2 { // + one warm-up per publisher
			t.Errorf("server saw %d publishes, want 102", got)
		}
	})
	t.Run("churn", func(t *testing.T) {
		t.Parallel()
		s := startFakeServer(t)
		r, err := runChurn(ctx, fakeOptions(t, s), churnOptions{Concurrency: 4, Duration: 5 * time.Second, MaxCycles: 60})
		checkOK(t, r, err)
		wantFigure(t, r, "cycles_ok", 60)
		wantFigure(t, r, "cycles_failed", 0)
		if got := s.nextID.Load(); got != 60 {
			t.Errorf("server saw %d connections, want 60", got)
		}
	})
}

func TestFanoutDetectsBadSecret(t *testing.T) {
	t.Parallel()
	s := startFakeServer(t)
	o := fakeOptions(t, s)
	o.Secret = "wrong"
	r, err := runFanout(context.Background(), o, fanoutOptions{Subs: 3, Events: 5, Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.failed) == 0 || !strings.Contains(strings.Join(r.failed, ";"), "status 401") {
		t.Fatalf("want a 401 failure, got %v", r.failed)
	}
}

func TestMainJSONAgainstFakeServer(t *testing.T) {
	t.Parallel()
	s := startFakeServer(t)
	for _, args := range [][]string{
		{"publish", "--publishers", "2", "--duration", "200ms", "--http", "std"},
		{"fanout", "--subs", "10", "--events", "20", "--server-pid", "auto"},
		{"idle", "--conns", "10", "--settle", "1ms", "--hold", "1ms"},
		{"churn", "--concurrency", "2", "--max", "10"},
		{"slow", "--slow", "3", "--normal", "2", "--events", "10", "--rate", "500", "--size", "100", "--after", "5s", "--server-pid", "auto"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			args := append(args, "--url", s.addr, "--json", "--quiet")
			if code := Main(context.Background(), args, &out, &errOut); code != exitOK {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
			}
			if got["ok"] != true || got["scenario"] != args[0] {
				t.Fatalf("unexpected result %v", got)
			}
		})
	}
}

// The cross-node form of fanout: subscribers spread over several targets,
// REST on another, several server processes and Redis processes read. The
// fake server stands for every node (one process), so the figures are
// checked for presence and sense, not value.
func TestFanoutAcrossNodesFlags(t *testing.T) {
	t.Parallel()
	s1, s2 := startFakeServer(t), startFakeServer(t)
	pid := strconv.Itoa(os.Getpid())
	var out, errOut bytes.Buffer
	args := []string{"fanout", "--subs", "10", "--events", "20", "--json", "--quiet",
		"--url", s1.addr + "," + s1.addr, "--rest-url", s1.addr,
		"--server-pid", pid + "," + pid, "--redis-pid", pid}
	if code := Main(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
	if got["ok"] != true || got["delivered"] != float64(200) {
		t.Fatalf("unexpected result %v", got)
	}
	for _, k := range []string{"server_cpu_us_per_delivery_by_process", "redis_cpu_us_per_event",
		"subscriber_targets", "rest_target", "more_server_pids", "redis_pid"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s in %v", k, got)
		}
	}
	if by, _ := got["server_cpu_us_per_delivery_by_process"].([]any); len(by) != 2 {
		t.Errorf("per-process figures %v, want 2", got["server_cpu_us_per_delivery_by_process"])
	}

	// Refused: several --url or --rest-url outside fanout, a bad pid.
	for _, bad := range [][]string{
		{"idle", "--url", s1.addr + "," + s2.addr},
		{"publish", "--url", s1.addr, "--rest-url", s2.addr},
		{"fanout", "--url", s1.addr, "--redis-pid", "x"},
		{"fanout", "--url", s1.addr, "--server-pid", "1,-2"},
		{"fanout", "--url", s1.addr, "--rest-url", "10.0.0.1:80"},
	} {
		var o, e bytes.Buffer
		if code := Main(context.Background(), append(bad, "--quiet"), &o, &e); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, exitUsage, e.String())
		}
	}
}
