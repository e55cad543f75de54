package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// presenceView replays what a client was sent on channel the way pusher-js
// keeps its member list: subscription_succeeded's list, then member_added
// and member_removed. It returns the final list and how many member_added
// named a user the list already had.
func presenceView(t *testing.T, c *recClient, channel string) (map[string]bool, int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	view, dups := map[string]bool{}, 0
	for _, f := range c.frames {
		if !strings.Contains(f, `"channel":"`+channel+`"`) {
			continue
		}
		var ev struct{ Event, Data string }
		if err := json.Unmarshal([]byte(f), &ev); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		switch ev.Event {
		case protocol.EventSubscriptionSucceeded:
			var d struct{ Presence struct{ IDs []string } }
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				t.Fatal(err)
			}
			for _, id := range d.Presence.IDs {
				view[id] = true
			}
		case protocol.EventMemberAdded:
			var d struct {
				UserID string `json:"user_id"`
			}
			_ = json.Unmarshal([]byte(ev.Data), &d)
			if view[d.UserID] {
				dups++
			}
			view[d.UserID] = true
		case protocol.EventMemberRemoved:
			var d struct {
				UserID string `json:"user_id"`
			}
			_ = json.Unmarshal([]byte(ev.Data), &d)
			delete(view, d.UserID)
		}
	}
	return view, dups
}

// Members joining and leaving a presence channel at the same time: every
// client ends with exactly the members there are, and is never told a
// member joined that its list already had. The member list a joiner gets and
// the member events it is sent afterwards must not overlap or leave a gap
// (a join announced before the joiner listened, and missing from its list,
// stayed missing until that member left).
func TestPresenceConcurrentJoinsAndLeaves(t *testing.T) {
	t.Parallel()
	app := &apps.App{ID: "a", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true, MaxPresenceMembers: 1000}}
	const ch, stay, leave = "presence-race", 40, 20
	for round := range 20 {
		h, _ := newTestHub(t)
		ctx := context.Background()
		clients := make([]*recClient, stay+leave)
		for i := range clients {
			clients[i] = &recClient{id: fmt.Sprintf("%d.%d", round, i)}
		}
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := protocol.Member{UserID: fmt.Sprintf("u%d", i)}
				if err := h.Subscribe(ctx, app, c, ch, &m); err != nil {
					t.Error(err)
					return
				}
				if i >= stay {
					h.Unsubscribe(ctx, app, c, ch, m.UserID)
				}
			}()
		}
		wg.Wait()
		for i, c := range clients[:stay] {
			view, dups := presenceView(t, c, ch)
			if len(view) != stay || dups != 0 {
				t.Fatalf("round %d: client %d ends with %d members (want %d) after %d member_added for members it had", round, i, len(view), stay, dups)
			}
			for j := range stay {
				if !view[fmt.Sprintf("u%d", j)] {
					t.Fatalf("round %d: client %d is missing u%d", round, i, j)
				}
			}
		}
	}
}
