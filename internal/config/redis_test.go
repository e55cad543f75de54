package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/redisurl"
)

// TestRedisForms: the URL and the long form name the same Redis, and the
// environment says the long form as the file does.
func TestRedisForms(t *testing.T) {
	t.Parallel()
	sentinel := redisurl.Options{Mode: redisurl.Sentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26379"},
		MasterName: "mymaster", Password: "pw", SentinelPassword: "spw", DB: 2}
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       redisurl.Options
	}{
		{"url", "cluster:\n  redis: redis+sentinel://:pw@s1:26379,s2:26379/mymaster/2\n  sentinel:\n    password: spw\n", nil, sentinel},
		{"long form", "cluster:\n  sentinel:\n    addrs: [s1:26379, s2:26379]\n    master: mymaster\n    password: spw\n  password: pw\n  db: 2\n", nil, sentinel},
		{"env", "", map[string]string{"PIXIU_CLUSTER_SENTINEL_ADDRS": "s1:26379, s2:26379", "PIXIU_CLUSTER_SENTINEL_MASTER": "mymaster",
			"PIXIU_CLUSTER_SENTINEL_PASSWORD": "spw", "PIXIU_CLUSTER_PASSWORD": "pw", "PIXIU_CLUSTER_DB": "2"}, sentinel},
		{"password kept out of the url", "", map[string]string{"PIXIU_CLUSTER": "redis+sentinel://s1:26379,s2:26379/mymaster/2",
			"PIXIU_CLUSTER_PASSWORD": "pw", "PIXIU_CLUSTER_SENTINEL_PASSWORD": "spw"}, sentinel},
		{"cluster long form", "cluster:\n  redis_cluster:\n    addrs: [n1:7000, n2:7000]\n  tls: true\n  username: u\n", nil,
			redisurl.Options{Mode: redisurl.Cluster, Network: "tcp", Addrs: []string{"n1:7000", "n2:7000"}, TLS: true, Username: "u"}},
		{"single", "cluster:\n  redis: rediss://h:6380/1\n", nil,
			redisurl.Options{Mode: redisurl.Single, Network: "tcp", Addrs: []string{"h:6380"}, TLS: true, DB: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := load(t, tc.yaml, tc.env)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Cluster.RedisOptions()
			if err != nil || !ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("RedisOptions() = %+v, %v, %v\nwant %+v", got, ok, err, tc.want)
			}
		})
	}
	if _, ok, err := load(t, "", nil).Cluster.RedisOptions(); ok || err != nil {
		t.Fatalf("the default names a Redis: %v %v", ok, err)
	}
}

// TestRedisFormsRefused: each wrong form names its key; a URL's password
// never appears in the message.
func TestRedisFormsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, want string }{
		{"no scheme", "cluster:\n  redis: localhost:6379\n", "cluster.redis: want a Redis URL, not \"localhost:6379\": no scheme (want redis://"},
		{"host list", "cluster:\n  redis: redis://:hunter2@a:1,b:2\n", "cluster.redis: want a Redis URL, not \"redis://:xxxxx@a:1,b:2\": a host list needs redis+sentinel:// or redis+cluster://"},
		{"no master", "cluster:\n  redis: redis+sentinel://s1:26379\n", "master name: redis+sentinel://host:26379/mymaster"},
		{"two forms", "cluster:\n  redis: redis://h:6379\n  redis_cluster:\n    addrs: [n1:7000]\n", "cluster.redis: set only one of"},
		{"long form without master", "cluster:\n  sentinel:\n    addrs: [s1:26379]\n", "cluster.sentinel.master: is required with cluster.sentinel.addrs"},
		{"long form bad addr", "cluster:\n  sentinel:\n    addrs: [s1]\n    master: m\n", "cluster.sentinel.addrs: \"s1\" is not host:port"},
		{"cluster db", "cluster:\n  redis_cluster:\n    addrs: [n1:7000]\n  db: 3\n", "cluster.db: a Redis Cluster has only database 0"},
		{"password twice", "cluster:\n  redis: redis://:a@h:6379\n  password: b\n", "cluster.password: the URL of cluster.redis has one already"},
		{"tls with url", "cluster:\n  redis: redis://h:6379\n  tls: true\n", "cluster.tls: with cluster.redis say TLS with its scheme"},
		{"db with url", "cluster:\n  redis: redis://h:6379\n  db: 1\n", "cluster.db: with cluster.redis the database is in the URL"},
		{"sentinel password without sentinel", "cluster:\n  redis: redis://h:6379\n  sentinel:\n    password: x\n", "cluster.sentinel.password: is for Sentinel"},
		{"master without addrs", "cluster:\n  sentinel:\n    master: m\n", "cluster.sentinel.master: needs a Redis"},
		{"password without redis", "cluster:\n  password: x\n", "cluster.password: needs a Redis: set cluster.redis, cluster.sentinel.addrs or cluster.redis_cluster.addrs"},
		{"negative db", "cluster:\n  sentinel:\n    addrs: [s1:26379]\n    master: m\n  db: -1\n", "cluster.db: must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := load(t, tc.yaml, nil)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Validate() = %v\nwant %q", err, tc.want)
			}
			if _, _, rerr := c.Cluster.RedisOptions(); rerr == nil {
				t.Fatal("RedisOptions accepted what Validate refuses")
			}
		})
	}
}

func load(t *testing.T, yaml string, env map[string]string) Config {
	t.Helper()
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "pixiu.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}
