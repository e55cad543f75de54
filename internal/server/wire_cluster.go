package server

import (
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
)

// newEngine builds the cluster engine: in-memory unless cfg.Cluster.Redis is set.
func (s *Server) newEngine(deliver cluster.Handler) (cluster.Engine, error) {
	return memory.New(deliver), nil
}
