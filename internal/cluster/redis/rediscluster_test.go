package redis_test

// A Redis Cluster of the test binary's own: three primaries (no replicas)
// on loopback ports, created once by the first test that needs it and
// stopped by TestMain. Tests share it with their own key prefixes, as they
// share the standalone Redis. Tests that change the cluster (slot
// migration, a shard's failover) start one of their own.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisCluster is a running Redis Cluster.
type redisCluster struct {
	dir   string
	ports []int
	cmds  []*exec.Cmd // cmds[i] serves ports[i]
}

// clusterSpec shapes a cluster: primaries, replicas of each, and
// cluster-node-timeout (how long a silent node takes to be declared failed).
type clusterSpec struct {
	primaries, replicas int
	nodeTimeout         time.Duration
}

var (
	clusterMu  sync.Mutex
	clusterRun *redisCluster // started by sharedCluster, stopped by TestMain
	clusterErr error
)

// sharedCluster starts the test binary's Redis Cluster on first use. It
// fails the test (never skips) when redis-server or redis-cli is missing.
func sharedCluster(t testing.TB) *redisCluster {
	t.Helper()
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if clusterRun == nil && clusterErr == nil {
		clusterRun, clusterErr = startCluster(3)
	}
	if clusterErr != nil {
		t.Fatalf("the Redis Cluster tests need redis-server and redis-cli (7.0+) on PATH: %v", clusterErr)
	}
	return clusterRun
}

func stopSharedCluster() {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if clusterRun != nil {
		clusterRun.stop()
		clusterRun = nil
	}
}

// url is the engine URL of the cluster (every node as a seed).
func (rc *redisCluster) url() string {
	addrs := make([]string, len(rc.ports))
	for i, p := range rc.ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

func (rc *redisCluster) client() *goredis.ClusterClient { return clusterClient(rc.url()) }

// clusterClient is a plain cluster client for a redis+cluster:// URL.
func clusterClient(url string) *goredis.ClusterClient {
	hosts := strings.TrimPrefix(url, "redis+cluster://")
	return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(hosts, ",")})
}

// startCluster starts n primaries without replicas.
func startCluster(n int) (*redisCluster, error) {
	return startClusterSpec(clusterSpec{primaries: n, nodeTimeout: 2 * time.Second})
}

func startClusterSpec(spec clusterSpec) (*redisCluster, error) {
	n := spec.primaries * (1 + spec.replicas)
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "pixiu-rcluster-")
	if err != nil {
		return nil, err
	}
	rc := &redisCluster{dir: dir}
	ok := false
	defer func() {
		if !ok {
			rc.stop()
		}
	}()
	var hosts []string
	for i := range n {
		port, bus, err := twoFreePorts()
		if err != nil {
			return nil, err
		}
		ndir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(ndir, 0o700); err != nil {
			return nil, err
		}
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(spec.nodeTimeout.Milliseconds(), 10), "--save", "", "--appendonly", "no", "--dir", ndir,
			"--daemonize", "no", "--logfile", filepath.Join(ndir, "redis.log"))
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		rc.ports = append(rc.ports, port)
		rc.cmds = append(rc.cmds, cmd)
		hosts = append(hosts, "127.0.0.1:"+strconv.Itoa(port))
	}
	for _, p := range rc.ports {
		if err := waitPing(p, 10*time.Second); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--cluster", "create"}, hosts...)
	args = append(args, "--cluster-replicas", strconv.Itoa(spec.replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := rc.waitOK(30 * time.Second); err != nil {
		return nil, err
	}
	if spec.replicas > 0 {
		if err := rc.waitReplicas(30 * time.Second); err != nil {
			return nil, err
		}
	}
	ok = true
	return rc, nil
}

// waitOK waits until every node reports cluster_state:ok, all slots
// assigned and knows every node.
func (rc *redisCluster) waitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := rc.checkOK()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (rc *redisCluster) checkOK() error {
	for _, p := range rc.ports {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p)})
		info, err := c.ClusterInfo(context.Background()).Result()
		c.Close()
		if err != nil {
			return err
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384",
			"cluster_known_nodes:" + strconv.Itoa(len(rc.ports))} {
			if !strings.Contains(info, want+"\r\n") {
				return fmt.Errorf("node %d: no %s yet:\n%s", p, want, info)
			}
		}
	}
	return nil
}

// waitReplicas waits until every replica is in sync with its primary (a
// failover needs one that is).
func (rc *redisCluster) waitReplicas(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, p := range rc.ports {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p)})
		for {
			info, err := c.Info(context.Background(), "replication").Result()
			if err == nil && (strings.Contains(info, "role:master\r\n") || strings.Contains(info, "master_link_status:up\r\n")) {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				return fmt.Errorf("replica %d not in sync: %v\n%s", p, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return nil
}

// kill stops the server on port as SIGKILL does (no goodbye, no save).
func (rc *redisCluster) kill(port int) {
	for i, p := range rc.ports {
		if p == port && rc.cmds[i] != nil {
			_ = rc.cmds[i].Process.Kill()
			_ = rc.cmds[i].Wait()
			rc.cmds[i] = nil
		}
	}
}

func waitPing(port int, timeout time.Duration) error {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// twoFreePorts returns a client port and a cluster bus port.
func twoFreePorts() (int, int, error) {
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	if ports[0] == ports[1] {
		return 0, 0, errors.New("the same free port twice")
	}
	return ports[0], ports[1], nil
}

func (rc *redisCluster) stop() {
	for _, c := range rc.cmds {
		if c != nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	rc.cmds = nil
	_ = os.RemoveAll(rc.dir)
}

// deleteClusterPrefix deletes a test's keys from every primary.
func deleteClusterPrefix(url, prefix string) {
	c := clusterClient(url)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		iter := m.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			m.Del(ctx, iter.Val())
		}
		return nil
	})
}
