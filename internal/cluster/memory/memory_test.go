package memory_test

import (
	"testing"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/clustertest"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	clustertest.Run(t, func(t *testing.T) clustertest.Cluster {
		return clustertest.Cluster{Node: func(h cluster.Handler) cluster.Engine {
			e := memory.New(h)
			t.Cleanup(func() { _ = e.Close() })
			return e
		}}
	})
}
