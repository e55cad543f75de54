package server_test

import (
	"strconv"
	"testing"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// Signed REST publishes answered on the event loops to a channel with more
// subscribers than the hub fans out itself (the shard goroutine takes over
// above 256) and than a loop writes in one go (64 per chunk): every
// subscriber gets every event once, in the publisher's order, with history
// ids ascending in that order.
func TestLargeFanoutFromRESTOnTheLoops(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Apps[0].History.Channels = []string{"hist-"}
	})
	const subs, events = 300, 40
	clients := make([]*pixiutest.Client, subs)
	for i := range clients {
		clients[i] = pixiutest.Dial(t, s.Addr, "app-key")
		clients[i].Subscribe("hist-big", "", "", "")
	}
	r := s.REST()
	for i := range events {
		r.Trigger(t, []string{"hist-big"}, "tick", strconv.Itoa(i))
	}
	r.Trigger(t, []string{"hist-big"}, "end", "")
	for n, c := range clients {
		last := ""
		for i := 0; ; {
			e := c.Next()
			if e.Event != "tick" && e.Event != "end" {
				continue // subscription counts
			}
			if e.Event == "end" {
				if i != events {
					t.Fatalf("subscriber %d: end after %d events, want %d", n, i, events)
				}
				break
			}
			if e.DataString() != strconv.Itoa(i) {
				t.Fatalf("subscriber %d: event %d is %q, want %d (lost, duplicated or out of order)", n, i, e.DataString(), i)
			}
			if e.ID == "" || (last != "" && !idAfter(e.ID, last)) {
				t.Fatalf("subscriber %d: id %q after %q, want ascending", n, e.ID, last)
			}
			last = e.ID
			i++
		}
	}
}

// idAfter compares history ids "<ms>-<seq>".
func idAfter(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am > bm || am == bm && as > bs
}

func splitID(id string) (ms, seq int64) {
	for i := range len(id) {
		if id[i] == '-' {
			ms, _ = strconv.ParseInt(id[:i], 10, 64)
			seq, _ = strconv.ParseInt(id[i+1:], 10, 64)
			return ms, seq
		}
	}
	return 0, 0
}
