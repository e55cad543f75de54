package server

import (
	"sync"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// observers fans hub lifecycle events out to every registered observer
// (webhooks, the console's debug stream). Add is called while wiring, before
// traffic; Observe may run concurrently with it.
type observers struct {
	mu   sync.RWMutex
	list []hub.Observer
}

func (o *observers) Add(ob hub.Observer) {
	o.mu.Lock()
	o.list = append(o.list, ob)
	o.mu.Unlock()
}

func (o *observers) Observe(e hub.Event) {
	o.mu.RLock()
	for _, ob := range o.list {
		ob.Observe(e)
	}
	o.mu.RUnlock()
}
