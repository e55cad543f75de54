package redis_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// Fifty users join one presence channel at once, half on each of two nodes:
// every socket ends with the whole member list. A joiner's list is read
// before it receives the channel's events; the hub reads it again once it
// does and sends the difference (reconcileMembers), so a member who joined
// in between is not missing. A member_added for someone the list already
// had may still come (pusher-js keeps one entry): logged, not failed.
func TestNodesPresenceJoinsAtOnce(t *testing.T) {
	t.Parallel()
	n := startNodes(t, 2, clusterOpts{})
	dial := func(i int) *pixiutest.Client { return n[i%2].dial() }
	const ch = "presence-race"
	const per = 25
	var clients []*pixiutest.Client
	for i := range 2 * per {
		clients = append(clients, dial(i))
	}
	views := make([]map[string]int, len(clients))
	dups := make([]int, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cd := fmt.Sprintf(`{"user_id":"u%d"}`, i)
			c.Send("pusher:subscribe", "", map[string]any{"channel": ch, "channel_data": cd,
				"auth": signature.ChannelAuth("app-key", "app-secret", c.SocketID, ch, cd)})
			view := map[string]int{}
			for {
				e, ok := c.NextWithin(3 * time.Second)
				if !ok {
					break
				}
				switch e.Event {
				case "pusher_internal:subscription_succeeded":
					var d struct{ Presence struct{ IDs []string } }
					_ = json.Unmarshal([]byte(e.DataString()), &d)
					for _, id := range d.Presence.IDs {
						view[id] = 1
					}
				case "pusher_internal:member_added":
					var d struct {
						UserID string `json:"user_id"`
					}
					_ = json.Unmarshal([]byte(e.DataString()), &d)
					if view[d.UserID] > 0 {
						dups[i]++
					}
					view[d.UserID] = 1
				case "pusher_internal:member_removed":
					var d struct {
						UserID string `json:"user_id"`
					}
					_ = json.Unmarshal([]byte(e.DataString()), &d)
					delete(view, d.UserID)
				}
			}
			views[i] = view
		}()
	}
	wg.Wait()
	missing, dup := 0, 0
	for i := range clients {
		if len(views[i]) != len(clients) {
			missing++
			t.Logf("client %d sees %d members", i, len(views[i]))
		}
		dup += dups[i]
	}
	t.Logf("%d clients with a wrong member list, %d member_added for a member already listed", missing, dup)
	if missing > 0 {
		t.Fatalf("%d of %d sockets end with a wrong member list", missing, len(clients))
	}
}
