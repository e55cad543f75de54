package redis_test

// Multi-node tests: real `pixiu serve` processes (built once per test
// binary) on loopback ports, sharing a Redis, driven by pixiutest clients
// spread across them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

var (
	binDir   string // removed by TestMain
	buildBin = sync.OnceValues(func() (string, error) {
		bin := filepath.Join(binDir, "pixiu")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/pixiu")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build ./cmd/pixiu: %v\n%s", err, out)
		}
		return bin, nil
	})
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pixiu-nodes-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	stopSharedCluster()
	stopSharedSentinel()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one running `pixiu serve` process.
type node struct {
	t      *testing.T
	name   string
	Addr   string
	prefix string // key prefix shared by the nodes of a test
	cmd    *exec.Cmd
	out    *pixiutest.SyncBuffer
	done   chan struct{}
}

// clusterOpts shape the nodes of one test.
type clusterOpts struct {
	redisURL string        // default: the shared test Redis
	lease    time.Duration // default 10s, the production default
	webhook  string        // webhook URL of the app, if any
	mutate   func(*config.Config)
}

// startNodes starts n nodes sharing a fresh key prefix and waits until each
// answers /ready.
func startNodes(t *testing.T, n int, o clusterOpts) []*node {
	t.Helper()
	bin, err := buildBin()
	if err != nil {
		t.Fatal(err)
	}
	if o.redisURL == "" {
		o.redisURL = testURL()
		requireRedis(t, o.redisURL)
	}
	prefix := testPrefix(t, o.redisURL)
	nodes := make([]*node, n)
	for i := range n {
		nodes[i] = startNode(t, bin, fmt.Sprintf("n%d", i+1), prefix, o)
	}
	for _, nd := range nodes {
		nd.waitReady(20 * time.Second)
	}
	return nodes
}

// startNode starts one node and waits until it listens. The port is picked
// free but bound only by the child, so another test may take it first: the
// node then exits (address in use) and is started again on another port —
// never left for /ready to be answered by someone else's node.
func startNode(t *testing.T, bin, name, prefix string, o clusterOpts) *node {
	t.Helper()
	for attempt := 1; ; attempt++ {
		nd := launchNode(t, bin, name, prefix, o)
		err := nd.waitListening(20 * time.Second)
		if err == nil {
			return nd
		}
		if attempt < 5 && strings.Contains(nd.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("node %s did not start: %v\n%s", name, err, nd.out.String())
	}
}

// waitListening waits for the node's own "listening" log line on its address.
func (nd *node) waitListening(timeout time.Duration) error {
	want := "msg=listening addr=" + nd.Addr
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(nd.out.String(), want) {
			return nil
		}
		select {
		case <-nd.done:
			if strings.Contains(nd.out.String(), want) {
				return nil
			}
			return fmt.Errorf("node %s exited before listening on %s", nd.name, nd.Addr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not listening on %s after %s", nd.name, nd.Addr, timeout)
		}
	}
}

func launchNode(t *testing.T, bin, name, prefix string, o clusterOpts) *node {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	app := config.DefaultApp()
	if o.webhook != "" {
		app.Webhooks = []apps.Webhook{{URL: o.webhook}}
	}
	cfg.Host, cfg.Port, cfg.Demo, cfg.LogLevel = "127.0.0.1", freePort(t), &f, "debug"
	cfg.Console.Enabled = &f
	cfg.Store.Path = filepath.Join(dir, "pixiu.db")
	cfg.Apps = []apps.App{app}
	cfg.Cluster = config.Cluster{Redis: o.redisURL, NodeID: name, KeyPrefix: prefix,
		LeaseTTL: config.Duration(o.lease), DrainWindow: config.Duration(time.Millisecond)}
	cfg.Webhooks.BatchInterval = config.Duration(20 * time.Millisecond)
	cfg.Webhooks.VacateDelay = config.Duration(-1)
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "pixiu.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	nd := &node{t: t, name: name, Addr: cfg.Addr(), prefix: prefix, out: &pixiutest.SyncBuffer{}, done: make(chan struct{})}
	nd.cmd = exec.Command(bin, "serve", "--config", file)
	nd.cmd.Dir = dir
	nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = nd.cmd.Wait(); close(nd.done) }()
	t.Cleanup(func() {
		nd.stop()
		if t.Failed() {
			t.Logf("--- output of node %s:\n%s", nd.name, nd.out.String())
		}
	})
	return nd
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ready returns the status of GET /ready.
func (nd *node) ready() (int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + nd.Addr + "/ready")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (nd *node) waitReady(timeout time.Duration) {
	nd.t.Helper()
	nd.waitStatus(timeout, http.StatusOK)
}

func (nd *node) waitStatus(timeout time.Duration, want int) {
	nd.t.Helper()
	pixiutest.WaitFor(nd.t, timeout, func() error {
		select {
		case <-nd.done:
			nd.t.Fatalf("node %s exited:\n%s", nd.name, nd.out.String())
		default:
		}
		st, err := nd.ready()
		if err != nil {
			return err
		}
		if st != want {
			return fmt.Errorf("node %s: /ready answers %d, want %d", nd.name, st, want)
		}
		return nil
	})
}

// kill sends SIGKILL: no drain, no goodbye to Redis.
func (nd *node) kill() {
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
}

func (nd *node) stop() {
	select {
	case <-nd.done:
		return
	default:
	}
	_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(10 * time.Second):
		nd.kill()
	}
}

func (nd *node) rest() *pixiutest.REST {
	return &pixiutest.REST{Addr: nd.Addr, ID: "app-id", Key: "app-key", Secret: "app-secret"}
}

func (nd *node) dial() *pixiutest.Client {
	nd.t.Helper()
	return pixiutest.Dial(nd.t, nd.Addr, "app-key")
}

// expectN returns the data of the next n events named name and checks that
// no further one arrives shortly after (exactly once).
func expectN(t *testing.T, c *pixiutest.Client, name string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = c.Expect(name).DataString()
	}
	c.Quiet(name, 200*time.Millisecond)
	return out
}

// redisServer is a redis-server of the test's own, on a spare port, so that
// stopping it leaves the shared one alone.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("the Redis outage test needs redis-server on PATH: %v", err)
	}
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *redisServer) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(r.url())
	c := goredis.NewClient(opts)
	defer c.Close()
	pixiutest.WaitFor(r.t, 10*time.Second, func() error {
		return c.Ping(context.Background()).Err()
	})
}

// shutdown stops the server the way an operator would, losing its data.
func (r *redisServer) shutdown() {
	r.t.Helper()
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(r.port), "shutdown", "nosave").CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.t.Fatalf("redis-cli shutdown: %v %s", err, out)
	}
	_ = r.cmd.Wait()
	r.cmd = nil
}
