package hub

// Occupancy is one app's local channels and subscriptions.
type Occupancy struct {
	Channels      int // channels with at least one local subscriber
	Subscriptions int // local subscriptions over those channels
}

// Occupancy returns each app's local channels and subscriptions, walking
// every shard under its read lock (for scrapes, not the hot path). Apps
// without a local subscription are absent.
func (h *Hub) Occupancy() map[string]Occupancy {
	out := map[string]Occupancy{}
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for k, ch := range s.channels {
			if len(ch.clients) == 0 {
				continue
			}
			o := out[k.app]
			o.Channels++
			o.Subscriptions += len(ch.clients)
			out[k.app] = o
		}
		s.mu.RUnlock()
	}
	return out
}

// ClientEvents returns how many client events this node has forwarded to the
// engine since it started.
func (h *Hub) ClientEvents() int64 { return h.clientEvents.Load() }
