package redis

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pixiu-io/pixiu/internal/redisurl"
)

// newClient makes the go-redis client of r: a plain client for one server,
// a failover client for Sentinel (it asks the Sentinels for the primary at
// every dial and drops its connections to a demoted one), a cluster client
// for a Redis Cluster (also returned as cl; nil otherwise). Calls are never
// retried, since a retried PUBLISH or script could run twice, and dials are
// bounded so that a probe of a dead server returns quickly. On a Redis
// Cluster go-redis does not follow redirects either (its redirect loop also
// retries network errors): the engine retries MOVED, ASK and TRYAGAIN
// itself, since a redirected command did not run (Engine.call).
func newClient(r redisurl.Options, o Options) (goredis.UniversalClient, *goredis.ClusterClient, error) {
	var tlsConf *tls.Config
	if r.TLS {
		// No ServerName: the TLS dial takes each server's host from its address.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dial := min(o.OpTimeout, time.Second)
	switch r.Mode {
	case redisurl.Single:
		return goredis.NewClient(&goredis.Options{
			Network: r.Network, Addr: r.Addrs[0], Username: r.Username, Password: r.Password, DB: r.DB,
			TLSConfig: tlsConf, ClientName: "pixiu-" + o.NodeID,
			MaxRetries: -1, DialerRetries: 1, DialTimeout: dial,
			ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout, ContextTimeoutEnabled: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		}), nil, nil
	case redisurl.Sentinel:
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: r.MasterName, SentinelAddrs: r.Addrs, SentinelPassword: r.SentinelPassword,
			Username: r.Username, Password: r.Password, DB: r.DB,
			TLSConfig: tlsConf, ClientName: "pixiu-" + o.NodeID,
			MaxRetries: -1, DialerRetries: 1, DialTimeout: dial,
			ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout, ContextTimeoutEnabled: true,
		}), nil, nil
	case redisurl.Cluster:
		cl := goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: r.Addrs, Username: r.Username, Password: r.Password,
			TLSConfig: tlsConf, ClientName: "pixiu-" + o.NodeID,
			MaxRedirects: -1, MaxRetries: -1, DialerRetries: 1, DialTimeout: dial,
			ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout, ContextTimeoutEnabled: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		return cl, cl, nil
	}
	return nil, nil, fmt.Errorf("redis: unknown mode %q", r.Mode)
}

// serverDown reports a reply error that means this server cannot take
// writes now (a demoted primary, one still loading its data, a replica
// that lost its primary): the engine treats it as an outage, so the health
// loop reconnects (through Sentinel, to the new primary) and re-registers
// this node's state, instead of taking it for a script's refusal.
func serverDown(err goredis.Error) bool {
	msg := err.Error()
	for _, p := range []string{"READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
