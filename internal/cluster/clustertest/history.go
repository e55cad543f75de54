package clustertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

var keep5 = cluster.HistoryPolicy{MaxEvents: 5, MaxAge: time.Hour}

// testHistory: events published with a history policy are delivered with
// ascending ids and kept (count-capped); queries by since are exact, and a
// since that is no longer kept is refused.
func testHistory(t *testing.T, c Cluster) {
	var r Recorder
	e := c.Node(r.Handle)
	ctx := context.Background()
	must(t, e.Listen(app, "hist"))
	must(t, e.Publish(ctx, cluster.Message{AppID: app, Channel: "hist", Event: "plain", Data: "x"}))
	const n = 8
	for i := range n {
		m := cluster.Message{AppID: app, Channel: "hist", Event: "tick", Data: seqData(i), History: keep5}
		if i == 3 {
			m.UserID, m.ExcludeSocket = "u1", "1.2"
		}
		must(t, e.Publish(ctx, m))
	}
	got := waitCount(t, &r, n+1, onChannel(app, "hist"))
	if got[0].ID != "" {
		t.Fatalf("an event without history got id %q", got[0].ID)
	}
	got = got[1:]
	checkSeq(t, got, n)
	var prevMs, prevSeq uint64
	for i, m := range got {
		ms, seq, ok := protocol.ParseHistoryID(m.ID)
		if !ok {
			t.Fatalf("event %d: id %q is not <ms>-<seq>", i, m.ID)
		}
		if i > 0 && (ms < prevMs || ms == prevMs && seq <= prevSeq) {
			t.Fatalf("event %d: id %s does not follow %s", i, m.ID, got[i-1].ID)
		}
		prevMs, prevSeq = ms, seq
	}
	ids := func(evs []cluster.HistoryEvent) string {
		s := ""
		for _, ev := range evs {
			s += ev.ID + " "
		}
		return s
	}
	want := func(msgs []cluster.Message) string {
		s := ""
		for _, m := range msgs {
			s += m.ID + " "
		}
		return s
	}
	// The newest 3, oldest first.
	page, err := e.History(ctx, app, "hist", keep5, cluster.HistoryQuery{Limit: 3})
	must(t, err)
	if ids(page.Events) != want(got[5:]) || page.More {
		t.Fatalf("newest 3: %s (more %v), want %s", ids(page.Events), page.More, want(got[5:]))
	}
	if ev := page.Events[2]; ev.Event != "tick" || ev.Data != seqData(7) {
		t.Fatalf("kept event %+v, want tick %s", ev, seqData(7))
	}
	// Only 5 are kept: all of them for a larger limit.
	page, err = e.History(ctx, app, "hist", keep5, cluster.HistoryQuery{Limit: 100})
	must(t, err)
	if ids(page.Events) != want(got[3:]) {
		t.Fatalf("all kept: %s, want %s", ids(page.Events), want(got[3:]))
	}
	if ev := page.Events[0]; ev.UserID != "u1" || ev.ExcludeSocket != "1.2" {
		t.Fatalf("user id and excluded socket not kept: %+v", ev)
	}
	// After a kept id: exact, bounded, with More.
	page, err = e.History(ctx, app, "hist", keep5, cluster.HistoryQuery{Since: got[4].ID, Limit: 2})
	must(t, err)
	if ids(page.Events) != want(got[5:7]) || !page.More {
		t.Fatalf("since %s limit 2: %s (more %v), want %s and more", got[4].ID, ids(page.Events), page.More, want(got[5:7]))
	}
	page, err = e.History(ctx, app, "hist", keep5, cluster.HistoryQuery{Since: got[7].ID, Limit: 2})
	must(t, err)
	if len(page.Events) != 0 || page.More {
		t.Fatalf("since the newest: %s (more %v), want nothing", ids(page.Events), page.More)
	}
	// Trimmed, unknown and malformed ids are gone.
	for _, since := range []string{got[2].ID, got[0].ID, "1-0", "99999999999999-0"} {
		if _, err := e.History(ctx, app, "hist", keep5, cluster.HistoryQuery{Since: since, Limit: 10}); !errors.Is(err, cluster.ErrHistoryGone) {
			t.Fatalf("since %s (not kept): %v, want ErrHistoryGone", since, err)
		}
	}
	// A channel without history.
	page, err = e.History(ctx, app, "none", keep5, cluster.HistoryQuery{Limit: 10})
	must(t, err)
	if len(page.Events) != 0 {
		t.Fatalf("empty channel: %d events", len(page.Events))
	}
	if _, err := e.History(ctx, app, "none", keep5, cluster.HistoryQuery{Since: got[7].ID, Limit: 10}); !errors.Is(err, cluster.ErrHistoryGone) {
		t.Fatalf("since on another channel: %v, want ErrHistoryGone", err)
	}
}

// testHistoryAge: events older than the policy's age are not returned.
func testHistoryAge(t *testing.T, c Cluster) {
	e := c.Node(func(cluster.Message) {})
	ctx := context.Background()
	p := cluster.HistoryPolicy{MaxEvents: 10, MaxAge: 300 * time.Millisecond}
	must(t, e.Publish(ctx, cluster.Message{AppID: app, Channel: "aged", Event: "e", Data: "1", History: p}))
	page, err := e.History(ctx, app, "aged", p, cluster.HistoryQuery{Limit: 10})
	must(t, err)
	if len(page.Events) != 1 {
		t.Fatalf("fresh event: %d kept, want 1", len(page.Events))
	}
	WaitFor(t, 10*time.Second, func() error {
		page, err := e.History(ctx, app, "aged", p, cluster.HistoryQuery{Limit: 10})
		if err != nil {
			return err
		}
		if len(page.Events) != 0 {
			return fmt.Errorf("%d events kept past their age", len(page.Events))
		}
		return nil
	})
}

// testHistoryConcurrent: concurrent publishers on one channel still get
// ids that ascend in delivery order.
func testHistoryConcurrent(t *testing.T, c Cluster) {
	var r Recorder
	e := c.Node(r.Handle)
	must(t, e.Listen(app, "hc"))
	ctx := context.Background()
	const workers, each = 4, 25
	done := make(chan error, workers)
	for w := range workers {
		go func() {
			var err error
			for i := range each {
				if err == nil {
					err = e.Publish(ctx, cluster.Message{AppID: app, Channel: "hc", Event: "e",
						Data: fmt.Sprint(w, i), History: cluster.HistoryPolicy{MaxEvents: 1000, MaxAge: time.Hour}})
				}
			}
			done <- err
		}()
	}
	for range workers {
		must(t, <-done)
	}
	got := waitCount(t, &r, workers*each, onChannel(app, "hc"))
	for i := 1; i < len(got); i++ {
		a, b, _ := protocol.ParseHistoryID(got[i-1].ID)
		x, y, _ := protocol.ParseHistoryID(got[i].ID)
		if x < a || x == a && y <= b {
			t.Fatalf("delivery %d: id %s after %s", i, got[i].ID, got[i-1].ID)
		}
	}
}

// testCrossNodeHistory: every node delivers an event with the same id, and
// any node reads the history.
func testCrossNodeHistory(t *testing.T, c Cluster) {
	var ra, rb Recorder
	a, b := c.Node(ra.Handle), c.Node(rb.Handle)
	must(t, a.Listen(app, "xh"))
	must(t, b.Listen(app, "xh"))
	ctx := context.Background()
	for i := range 3 {
		must(t, b.Publish(ctx, cluster.Message{AppID: app, Channel: "xh", Event: "e", Data: seqData(i), History: keep5}))
	}
	ga := waitCount(t, &ra, 3, onChannel(app, "xh"))
	gb := waitCount(t, &rb, 3, onChannel(app, "xh"))
	for i := range ga {
		if ga[i].ID == "" || ga[i].ID != gb[i].ID {
			t.Fatalf("event %d: node A got id %q, node B %q", i, ga[i].ID, gb[i].ID)
		}
	}
	page, err := a.History(ctx, app, "xh", keep5, cluster.HistoryQuery{Since: ga[0].ID, Limit: 10})
	must(t, err)
	if len(page.Events) != 2 || page.Events[1].ID != ga[2].ID {
		t.Fatalf("node A reads %+v, want the events after %s", page.Events, ga[0].ID)
	}
}
