package server_test

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// ownRedis is a redis-server of the test's own on a spare port, so that
// stopping it leaves the shared one alone.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("this test needs redis-server on PATH: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ownRedis{t: t, port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	ln.Close()
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	pixiutest.WaitFor(r.t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(r.port))
		if err == nil {
			c.Close()
		}
		return err
	})
}

func (r *ownRedis) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// TestMetricsRedisEngine: the Redis engine's error and reconnect families
// move through an outage: connection errors while Redis is gone, reconnects
// of the command and pub/sub connections when it is back.
func TestMetricsRedisEngine(t *testing.T) {
	t.Parallel()
	r := startOwnRedis(t)
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = r.url()
		c.Cluster.LeaseTTL = config.Duration(3 * time.Second)
	})
	m := waitMetric(t, s.Addr, "pixiu_engine_ready", equal(1))
	for _, k := range []string{`pixiu_redis_errors_total{kind="reply"}`, `pixiu_redis_errors_total{kind="connection"}`,
		`pixiu_redis_reconnects_total{conn="commands"}`, `pixiu_redis_reconnects_total{conn="pubsub"}`, "pixiu_redis_pubsub_dropped_total"} {
		if v, ok := m[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0 before any outage", k, v, ok)
		}
	}
	r.stop()
	waitMetric(t, s.Addr, `pixiu_redis_errors_total{kind="connection"}`, above(0))
	waitMetric(t, s.Addr, "pixiu_engine_ready", equal(0))
	r.start()
	waitMetric(t, s.Addr, "pixiu_engine_ready", equal(1))
	// At least one each: the pub/sub connection may need more than one
	// attempt while the node re-registers.
	waitMetric(t, s.Addr, `pixiu_redis_reconnects_total{conn="pubsub"}`, above(0))
	waitMetric(t, s.Addr, `pixiu_redis_reconnects_total{conn="commands"}`, above(0))
}
