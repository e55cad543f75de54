package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fakeOptions(t *testing.T, s *fakeServer) Options {
	t.Helper()
	tg, err := ResolveTarget(context.Background(), "ws://"+s.addr)
	if err != nil {
		t.Fatal(err)
	}
	// The fake server runs in this process, so /proc/self stands in for it.
	return Options{Target: tg, ServerPID: os.Getpid(), Loops: 2, DialWorkers: 8,
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
		r, err := RunIdle(ctx, fakeOptions(t, s), IdleOptions{Conns: 50, Channels: 3, Settle: time.Millisecond, Hold: 50 * time.Millisecond})
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
			r, err := RunFanout(ctx, fakeOptions(t, s), FanoutOptions{Subs: 50, Events: 200, Rate: tc.rate, Window: 20, Drain: 5 * time.Second})
			checkOK(t, r, err)
			wantFigure(t, r, "published", 200)
			wantFigure(t, r, "expected", 50*200)
			wantFigure(t, r, "delivered", 50*200)
			wantFigure(t, r, "lost", 0)
			wantFigure(t, r, "duplicated", 0)
			wantFigure(t, r, "latency_samples", 50*200)
		})
	}
	t.Run("publish", func(t *testing.T) {
		t.Parallel()
		s := startFakeServer(t)
		r, err := RunPublish(ctx, fakeOptions(t, s), PublishOptions{Publishers: 2, Duration: 300 * time.Millisecond, MaxRequests: 100})
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
		r, err := RunChurn(ctx, fakeOptions(t, s), ChurnOptions{Concurrency: 4, Duration: 5 * time.Second, MaxCycles: 60})
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
	r, err := RunFanout(context.Background(), o, FanoutOptions{Subs: 3, Events: 5, Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.failed) == 0 || !strings.Contains(strings.Join(r.failed, ";"), "status 401") {
		t.Fatalf("want a 401 failure, got %v", r.failed)
	}
}
