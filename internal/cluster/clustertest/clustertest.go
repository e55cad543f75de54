// Package clustertest is the conformance suite every cluster engine passes:
// Run(t, factory) checks the cluster.Engine contracts (delivery by interest,
// order, exactly once; presence and subscription counts with their
// first/last transitions; cache; connection counts) and, for
// engines that span nodes, the cross-node ones including the reaping of a
// node that died. It is imported only by tests.
package clustertest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// Cluster is one fresh, empty cluster for one test.
type Cluster struct {
	// Node starts a node of this cluster that delivers to h. The factory
	// closes it when the test ends.
	Node func(h cluster.Handler) cluster.Engine
	// MultiNode says Node may be called several times and the nodes share
	// state; single-node engines leave it false and Node is called once.
	MultiNode bool
	// Kill stops a node the way SIGKILL would: no goodbye, its state stays
	// until its lease expires. Required when MultiNode.
	Kill func(cluster.Engine)
	// DeathBound is how long the survivors may take to reap a killed node.
	DeathBound time.Duration
}

// Factory returns a new cluster for the (sub)test t.
type Factory func(t *testing.T) Cluster

// Run runs the whole suite; each test gets its own cluster from factory.
func Run(t *testing.T, factory Factory) {
	t.Helper()
	tests := []struct {
		name  string
		multi bool
		f     func(*testing.T, Cluster)
	}{
		{"PublishInOrder", false, testPublishInOrder},
		{"Broadcast", false, testBroadcast},
		{"ListenRefCount", false, testListenRefCount},
		{"Presence", false, testPresence},
		{"PresenceConcurrentFirstLast", false, testPresenceConcurrent},
		{"MemberCounts", false, testMemberCounts},
		{"Subscriptions", false, testSubscriptions},
		{"SubscriptionsConcurrentTransitions", false, testSubscriptionsConcurrent},
		{"Cache", false, testCache},
		{"Connections", false, testConnections},
		{"ReadyAndClose", false, testReadyClose},
		{"History", false, testHistory},
		{"HistoryAge", false, testHistoryAge},
		{"HistoryConcurrent", false, testHistoryConcurrent},
		{"CrossNodeHistory", true, testCrossNodeHistory},
		{"CrossNodePublish", true, testCrossNodePublish},
		{"CrossNodeInterest", true, testCrossNodeInterest},
		{"CrossNodePresence", true, testCrossNodePresence},
		{"CrossNodeMemberCounts", true, testCrossNodeMemberCounts},
		{"CrossNodeSubscriptions", true, testCrossNodeSubscriptions},
		{"CrossNodeConnections", true, testCrossNodeConnections},
		{"NodeDeath", true, testNodeDeath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := factory(t)
			if tc.multi && !c.MultiNode {
				return // single-node engine: nothing crosses nodes
			}
			tc.f(t, c)
		})
	}
}

// Recorder is a Handler that keeps what it receives.
type Recorder struct {
	mu   sync.Mutex
	msgs []cluster.Message
}

// Handle is the cluster.Handler.
func (r *Recorder) Handle(m cluster.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// Messages returns the messages received so far that match keep (all if nil).
func (r *Recorder) Messages(keep func(cluster.Message) bool) []cluster.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cluster.Message
	for _, m := range r.msgs {
		if keep == nil || keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor polls f until it returns nil or fails the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCount waits until r holds n messages matching keep, then checks that
// no more arrive for a short while (exactly once).
func waitCount(t *testing.T, r *Recorder, n int, keep func(cluster.Message) bool) []cluster.Message {
	t.Helper()
	// A bound for a loaded machine (CI runs the race detector on two cores),
	// not a latency claim: a delivery normally takes milliseconds.
	WaitFor(t, 15*time.Second, func() error {
		if got := len(r.Messages(keep)); got < n {
			return fmt.Errorf("%d of %d messages", got, n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // a bounded wait for duplicates that must not come
	got := r.Messages(keep)
	if len(got) != n {
		t.Fatalf("got %d messages, want exactly %d", len(got), n)
	}
	return got
}

func onChannel(app, ch string) func(cluster.Message) bool {
	return func(m cluster.Message) bool { return m.AppID == app && m.Channel == ch && m.Notice == 0 }
}

func notices(n cluster.Notice, app, ch string) func(cluster.Message) bool {
	return func(m cluster.Message) bool { return m.Notice == n && m.AppID == app && m.Channel == ch }
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func seqData(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }

func checkSeq(t *testing.T, msgs []cluster.Message, n int) {
	t.Helper()
	for i, m := range msgs {
		if m.Data != seqData(i) {
			t.Fatalf("message %d of %d has data %s, want %s (order broken)", i, n, m.Data, seqData(i))
		}
	}
}
