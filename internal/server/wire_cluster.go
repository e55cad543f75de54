package server

import (
	"log/slog"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/cluster/redis"
	"github.com/pixiu-io/pixiu/internal/demo"
	"github.com/pixiu-io/pixiu/internal/lograte"
)

// newEngine builds the cluster engine: in-memory unless the configuration
// names a Redis (cluster.redis or the long form), then the Redis engine
// (many nodes sharing one Redis, or one primary followed through Sentinel).
func (s *Server) newEngine(deliver cluster.Handler) (cluster.Engine, error) {
	c := s.cfg.Cluster
	r, ok, err := c.RedisOptions()
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return memory.NewWithOptions(memory.Options{HistoryMaxBytes: s.cfg.Limits.HistoryMaxBytes}, deliver), nil
	}
	// go-redis logs on its own (a dial failure every second while Redis is
	// down): through slog, at most 5 lines a minute, then a summary.
	redis.SetClientLog(slog.New(lograte.New(s.log.Handler(), 5, time.Minute)).With("component", "go-redis"))
	e, err := redis.New(redis.Options{
		Redis:     r,
		NodeID:    c.NodeID,
		KeyPrefix: c.KeyPrefix,
		LeaseTTL:  c.LeaseTTL.D(),
		Log:       s.log,
	}, deliver)
	if err != nil {
		return nil, err
	}
	// The console's debug stream is cluster-wide: a watcher on any node sees
	// every node's entries for its app (wireStore made the tap).
	s.tap.SetRelay(e, e.NodeID())
	// So are its usage figures: messages and peaks are tallied in Redis,
	// connections come from the engine's exchange (wireStore made usage).
	s.usage.SetTally(e)
	s.log.Info("cluster engine: redis", "redis", r.String(), "mode", string(r.Mode), "node_id", e.NodeID(),
		"key_prefix", c.KeyPrefix, "lease_ttl", c.LeaseTTL.D().String())
	return e, nil
}

// historyPolicy is the hub's History hook: the app's history settings for
// the channel, looked up in the registry's current snapshot.
func (s *Server) historyPolicy(appID, channel string) cluster.HistoryPolicy {
	a, err := s.apps.ByID(appID)
	if err != nil {
		return cluster.HistoryPolicy{}
	}
	n, age := a.HistoryFor(channel)
	if n == 0 && channel == demo.Channel && s.demoEnabled() {
		// The exchange demo opens with the last trades and recovers the
		// ones a broken connection missed: its app keeps its channel's
		// history whatever the app's settings.
		if d := s.demoApp(); d != nil && d.ID == appID {
			n, age = apps.DefaultHistoryMaxEvents, apps.DefaultHistoryMaxAgeSeconds*time.Second
		}
	}
	return cluster.HistoryPolicy{MaxEvents: n, MaxAge: age}
}
