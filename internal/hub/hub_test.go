package hub

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// recClient records frames and closes.
type recClient struct {
	id     string
	mu     sync.Mutex
	frames []string
	closed *protocol.Error
}

func (c *recClient) SocketID() string { return c.id }
func (c *recClient) Send(f []byte) {
	c.mu.Lock()
	c.frames = append(c.frames, string(f))
	c.mu.Unlock()
}
func (c *recClient) SendTracked(f []byte, _ *Delivery) { c.Send(f) }
func (c *recClient) Close(e *protocol.Error) {
	c.mu.Lock()
	c.closed = e
	c.mu.Unlock()
}

func (c *recClient) got(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if strings.Contains(f, substr) {
			n++
		}
	}
	return n
}

type recObserver struct {
	mu     sync.Mutex
	events []Event
}

func (o *recObserver) Observe(e Event) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func (o *recObserver) count(k EventKind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func newTestHub(t *testing.T) (*Hub, *recObserver) {
	t.Helper()
	obs := &recObserver{}
	h, err := New(Options{Observer: obs}, func(d cluster.Handler) (cluster.Engine, error) { return memory.New(d), nil })
	if err != nil {
		t.Fatal(err)
	}
	return h, obs
}

var testApp = &apps.App{ID: "a", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true, MaxPresenceMembers: 2}}

func TestPublishReachesSubscribersButTheExcluded(t *testing.T) {
	t.Parallel()
	h, obs := newTestHub(t)
	ctx := context.Background()
	a, b := &recClient{id: "1.1"}, &recClient{id: "1.2"}
	for _, c := range []*recClient{a, b} {
		if err := h.Subscribe(ctx, testApp, c, "ch", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Publish(ctx, "a", []string{"ch"}, "ev", "d", "1.1"); err != nil {
		t.Fatal(err)
	}
	if a.got(`"event":"ev"`) != 0 || b.got(`"event":"ev","channel":"ch","data":"d"`) != 1 {
		t.Fatalf("a=%v b=%v", a.frames, b.frames)
	}
	if err := h.Publish(ctx, "other-app", []string{"ch"}, "ev2", "d", ""); err != nil {
		t.Fatal(err)
	}
	if b.got("ev2") != 0 {
		t.Fatal("an event of another app reached this app's subscriber")
	}
	if obs.count(ChannelOccupied) != 1 {
		t.Fatalf("occupied %d times", obs.count(ChannelOccupied))
	}
	h.Unsubscribe(ctx, testApp, a, "ch", "")
	h.Unsubscribe(ctx, testApp, b, "ch", "")
	if obs.count(ChannelVacated) != 1 {
		t.Fatalf("vacated %d times", obs.count(ChannelVacated))
	}
	if h.Unsubscribe(ctx, testApp, b, "ch", "") {
		t.Fatal("second unsubscribe reported success")
	}
}

func TestPresenceCountsUsersNotSockets(t *testing.T) {
	t.Parallel()
	h, obs := newTestHub(t)
	ctx := context.Background()
	u1a, u1b, u2, u3 := &recClient{id: "1.1"}, &recClient{id: "1.2"}, &recClient{id: "1.3"}, &recClient{id: "1.4"}
	m1, m2, m3 := protocol.Member{UserID: "u1"}, protocol.Member{UserID: "u2"}, protocol.Member{UserID: "u3"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Subscribe(ctx, testApp, u1a, "presence-r", &m1))
	must(h.Subscribe(ctx, testApp, u1b, "presence-r", &m1)) // same user: no member_added
	must(h.Subscribe(ctx, testApp, u2, "presence-r", &m2))
	if u1a.got("member_added") != 1 || u2.got("member_added") != 0 {
		t.Fatalf("member_added: u1a=%d u2=%d", u1a.got("member_added"), u2.got("member_added"))
	}
	if err := h.Subscribe(ctx, testApp, u3, "presence-r", &m3); err != ErrMemberLimit {
		t.Fatalf("third user with a limit of 2: %v", err)
	}
	h.Unsubscribe(ctx, testApp, u1a, "presence-r", "u1")
	if u2.got("member_removed") != 0 {
		t.Fatal("member_removed before the user's last socket left")
	}
	h.Unsubscribe(ctx, testApp, u1b, "presence-r", "u1")
	if u2.got(`member_removed","channel":"presence-r","data":"{\"user_id\":\"u1\"}"`) != 1 {
		t.Fatalf("u2 frames %v", u2.frames)
	}
	if obs.count(MemberAdded) != 2 || obs.count(MemberRemoved) != 1 {
		t.Fatalf("added %d removed %d", obs.count(MemberAdded), obs.count(MemberRemoved))
	}
}

func TestTerminateUserClosesOnlyThatUser(t *testing.T) {
	t.Parallel()
	h, _ := newTestHub(t)
	a, b := &recClient{id: "1.1"}, &recClient{id: "1.2"}
	h.SignIn("a", a, "alice", nil)
	if online := h.SignIn("a", b, "bob", []string{"alice"}); len(online) != 1 || online[0] != "alice" {
		t.Fatalf("bob did not see alice online: %v", online)
	}
	h.TerminateUser("a", "alice")
	if a.closed == nil || a.closed.Code != protocol.CodeUnauthorized || b.closed != nil {
		t.Fatalf("a=%v b=%v", a.closed, b.closed)
	}
	h.SignOut("a", a, "alice", nil)
	if b.got("offline") != 1 {
		t.Fatalf("bob did not see alice offline: %v", b.frames)
	}
}

// countingEngine counts the presence look-ups a hub makes.
type countingEngine struct {
	*memory.Engine
	mu     sync.Mutex
	single int // MemberCount calls
	batch  int // MemberCounts calls
}

func (e *countingEngine) MemberCount(ctx context.Context, app, ch string) (int, error) {
	e.mu.Lock()
	e.single++
	e.mu.Unlock()
	return e.Engine.MemberCount(ctx, app, ch)
}

func (e *countingEngine) MemberCounts(ctx context.Context, app string, chans []string) ([]int, error) {
	e.mu.Lock()
	e.batch++
	e.mu.Unlock()
	return e.Engine.MemberCounts(ctx, app, chans)
}

// A watchlist of 100 ids costs one engine look-up, not one per id
// (issue 10 §4), and still reports exactly the online ids.
func TestSignInWatchlistIsOneLookup(t *testing.T) {
	t.Parallel()
	eng := &countingEngine{}
	h, err := New(Options{}, func(d cluster.Handler) (cluster.Engine, error) {
		eng.Engine = memory.New(d)
		return eng, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u7", "u42", "u99"} {
		h.SignIn("a", &recClient{id: "2." + id}, id, nil)
	}
	watchlist := make([]string, 100)
	for i := range watchlist {
		watchlist[i] = "u" + strconv.Itoa(i)
	}
	eng.mu.Lock()
	eng.single, eng.batch = 0, 0
	eng.mu.Unlock()
	c := &recClient{id: "1.1"}
	online := h.SignIn("a", c, "me", watchlist)
	eng.mu.Lock()
	single, batch := eng.single, eng.batch
	eng.mu.Unlock()
	if single != 0 || batch != 1 {
		t.Fatalf("watchlist of 100: %d MemberCount and %d MemberCounts calls, want 0 and 1", single, batch)
	}
	if strings.Join(online, ",") != "u7,u42,u99" {
		t.Fatalf("online = %q, want u7, u42, u99", online)
	}
}
