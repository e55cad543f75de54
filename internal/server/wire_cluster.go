package server

import (
	"net/url"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
)

// newEngine builds the cluster engine: in-memory unless cfg.Cluster.Redis is
// set, then the Redis engine (many nodes sharing one Redis).
func (s *Server) newEngine(deliver cluster.Handler) (cluster.Engine, error) {
	c := s.cfg.Cluster
	if c.Redis == "" {
		return memory.New(deliver), nil
	}
	e, err := redis.New(redis.Options{
		URL:       c.Redis,
		NodeID:    c.NodeID,
		KeyPrefix: c.KeyPrefix,
		LeaseTTL:  c.LeaseTTL.D(),
		Log:       s.log,
	}, deliver)
	if err != nil {
		return nil, err
	}
	s.log.Info("cluster engine: redis", "redis", redactURL(c.Redis), "node_id", e.NodeID(),
		"key_prefix", c.KeyPrefix, "lease_ttl", c.LeaseTTL.D().String())
	return e, nil
}

// redactURL hides the password of a Redis URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
