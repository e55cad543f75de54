package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// A leave on one node and a return on another within the webhook hold send
// neither half of the pair: no channel_vacated/member_removed and no second
// channel_occupied/member_added (protocol.md §7.3). A later leave for good
// sends its vacated/removed once.
func TestNodesHoldRejoinAcrossNodes(t *testing.T) {
	t.Parallel()
	hooks := pixiutest.NewReceiver(t)
	n := startNodes(t, 2, clusterOpts{webhook: hooks.URL, mutate: func(c *config.Config) {
		c.Webhooks.VacateDelay = config.Duration(time.Second)
	}})
	count := func(name, ch string) int { return len(pixiutest.Find(hooks.Events(), name, ch)) }
	a := n[0].dial()
	a.Subscribe("presence-hop", "app-key", "app-secret", `{"user_id":"u"}`)
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "channel_occupied", "presence-hop")) != 1 || len(pixiutest.Find(evs, "member_added", "presence-hop")) != 1 {
			return fmt.Errorf("no channel_occupied and member_added yet")
		}
		return nil
	})
	a.Send("pusher:unsubscribe", "", map[string]any{"channel": "presence-hop"})
	b := n[1].dial()
	b.Subscribe("presence-hop", "app-key", "app-secret", `{"user_id":"u"}`)
	time.Sleep(2500 * time.Millisecond) // past the (shortened) 1 s hold and a batch interval
	for name, want := range map[string]int{"channel_occupied": 1, "member_added": 1, "channel_vacated": 0, "member_removed": 0} {
		if got := count(name, "presence-hop"); got != want {
			t.Errorf("%d %s after a leave on n1 and a return on n2 within the hold, want %d: %+v", got, name, want, hooks.Events())
		}
	}
	b.Send("pusher:unsubscribe", "", map[string]any{"channel": "presence-hop"})
	hooks.WaitEvents(t, func(evs []pixiutest.WebhookEvent) error {
		if len(pixiutest.Find(evs, "channel_vacated", "presence-hop")) != 1 || len(pixiutest.Find(evs, "member_removed", "presence-hop")) != 1 {
			return fmt.Errorf("no channel_vacated and member_removed yet")
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	if v, r := count("channel_vacated", "presence-hop"), count("member_removed", "presence-hop"); v != 1 || r != 1 {
		t.Fatalf("%d channel_vacated and %d member_removed after the last leave, want 1 and 1", v, r)
	}
}
