package console

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// Limits of the debug stream.
const (
	ringSize          = 512  // entries buffered per watcher before the oldest are dropped
	maxEntryData      = 2048 // bytes of event data kept per entry
	maxWatchersPerApp = 16
	maxWatchers       = 128
)

// Entry is one line of the debug console.
type Entry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"` // a hub event kind, "error", "webhook" or "dropped"
	Channel   string    `json:"channel,omitempty"`
	Event     string    `json:"event,omitempty"`
	Data      string    `json:"data,omitempty"`
	Size      int       `json:"size,omitempty"`      // bytes of data before truncation
	Truncated bool      `json:"truncated,omitempty"` // data was cut at 2 KiB
	SocketID  string    `json:"socket_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Count     int       `json:"count,omitempty"`
	Status    int       `json:"status,omitempty"`
	Message   string    `json:"message,omitempty"`
	Node      string    `json:"node,omitempty"` // the node it happened on (in a cluster)
}

// Relay carries entries between the nodes of a cluster (the Redis engine's
// cluster.DebugRelay): a watcher on any node sees every node's entries.
type Relay interface {
	// WatchDebug makes recv get the entries other nodes send for appID until stop.
	WatchDebug(appID string, recv func(entry []byte)) (stop func())
	// DebugWanted reports whether a console on another node watches appID.
	DebugWanted(appID string) bool
	// SendDebug hands an entry to the other nodes watching appID; never blocks.
	SendDebug(appID string, entry []byte)
}

// Tap turns hub events and reported errors into debug console entries for
// the apps someone watches. It is a hub.Observer. While nobody watches,
// Observe is one atomic load (two with a relay); entries are only built for
// watched apps. With a Relay, entries of apps watched on other nodes are
// sent to them, and this node's watchers get theirs. Safe for concurrent use.
type Tap struct {
	watching atomic.Int32 // number of watchers, all apps
	seq      atomic.Uint64
	now      func() time.Time
	relay    Relay  // nil: one node; set before the console serves
	node     string // this node's id, on entries sent through relay

	mu         sync.RWMutex
	byApp      map[string]map[*watcher]struct{} // guarded by mu
	relayStops map[string]func()                // app → stop of its WatchDebug; guarded by mu
}

var _ hub.Observer = (*Tap)(nil)

// NewTap returns a tap with no watchers.
func NewTap() *Tap {
	return &Tap{now: time.Now, byApp: map[string]map[*watcher]struct{}{}, relayStops: map[string]func(){}}
}

// SetRelay makes the tap cluster-wide: node names this node on the entries
// it sends. It must be called before the console serves.
func (t *Tap) SetRelay(r Relay, node string) {
	t.relay, t.node = r, node
}

// active reports whether an entry of appID would reach a watcher here or on
// another node.
func (t *Tap) active(appID string) bool {
	return t.watching.Load() > 0 || t.relay != nil && t.relay.DebugWanted(appID)
}

// Observe implements hub.Observer.
func (t *Tap) Observe(e hub.Event) {
	if !t.active(e.AppID) {
		return
	}
	t.emit(e.AppID, func() Entry {
		en := Entry{Type: e.Kind.String(), Channel: e.Channel, Event: e.Event, SocketID: e.SocketID,
			UserID: e.UserID, Reason: e.Reason, Count: e.Count}
		en.setData(e.Data)
		return en
	})
}

// Error reports an error of an app, such as a REST request refused for a
// bad signature or over quota.
func (t *Tap) Error(appID string, status int, message string) {
	if !t.active(appID) {
		return
	}
	t.emit(appID, func() Entry { return Entry{Type: "error", Status: status, Message: message} })
}

// Emit adds an entry built by the caller (webhook deliveries, for one) to
// the app's stream. Seq and Time are set by the tap.
func (t *Tap) Emit(appID string, e Entry) {
	if !t.active(appID) {
		return
	}
	e.setData(e.Data)
	t.emit(appID, func() Entry { return e })
}

func (e *Entry) setData(data string) {
	e.Size = len(data)
	if len(data) > maxEntryData {
		data, e.Truncated = data[:maxEntryData], true
	}
	e.Data = data
}

// emit builds the entry (only if the app is watched, here or elsewhere),
// gives it to each of the app's watchers here and sends it to the other
// nodes watching it.
func (t *Tap) emit(appID string, build func() Entry) {
	remote := t.relay != nil && t.relay.DebugWanted(appID)
	t.mu.RLock()
	ws := t.byApp[appID]
	if len(ws) == 0 && !remote {
		t.mu.RUnlock()
		return
	}
	e := build()
	e.Seq, e.Time, e.Node = t.seq.Add(1), t.now().UTC(), t.node
	for w := range ws {
		w.push(e)
	}
	t.mu.RUnlock()
	if remote {
		b, _ := json.Marshal(e) // cannot fail: strings and numbers only
		t.relay.SendDebug(appID, b)
	}
}

// fromRelay gives an entry another node sent to this node's watchers of
// appID, numbered in this tap's sequence.
func (t *Tap) fromRelay(appID string, b []byte) {
	var e Entry
	if json.Unmarshal(b, &e) != nil {
		return
	}
	e.setData(e.Data) // bounded here too, whatever the sender did
	t.mu.RLock()
	defer t.mu.RUnlock()
	e.Seq = t.seq.Add(1)
	for w := range t.byApp[appID] {
		w.push(e)
	}
}

var errTooManyWatchers = errors.New("console: too many debug consoles open")

// watch registers a watcher of appID; call unwatch when done.
func (t *Tap) watch(appID string) (*watcher, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.watching.Load() >= maxWatchers || len(t.byApp[appID]) >= maxWatchersPerApp {
		return nil, errTooManyWatchers
	}
	w := &watcher{app: appID, notify: make(chan struct{}, 1)}
	if t.byApp[appID] == nil {
		t.byApp[appID] = map[*watcher]struct{}{}
	}
	t.byApp[appID][w] = struct{}{}
	t.watching.Add(1)
	if t.relay != nil && t.relayStops[appID] == nil {
		t.relayStops[appID] = t.relay.WatchDebug(appID, func(b []byte) { t.fromRelay(appID, b) })
	}
	return w, nil
}

func (t *Tap) unwatch(w *watcher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byApp[w.app][w]; !ok {
		return
	}
	delete(t.byApp[w.app], w)
	if len(t.byApp[w.app]) == 0 {
		delete(t.byApp, w.app)
		if stop := t.relayStops[w.app]; stop != nil {
			stop()
			delete(t.relayStops, w.app)
		}
	}
	t.watching.Add(-1)
}

// watcher is one open debug console: a ring of entries that drops its
// oldest when full, drained by the stream handler.
type watcher struct {
	app    string
	notify chan struct{} // signalled (never blocking) when entries arrive

	mu      sync.Mutex
	ring    [ringSize]Entry // guarded by mu
	head, n int             // guarded by mu
	dropped int             // entries overwritten since the last drain; guarded by mu
}

func (w *watcher) push(e Entry) {
	w.mu.Lock()
	if w.n == ringSize {
		w.head = (w.head + 1) % ringSize
		w.n--
		w.dropped++
	}
	w.ring[(w.head+w.n)%ringSize] = e
	w.n++
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// drain appends the buffered entries to dst and returns them with the
// number dropped since the last drain.
func (w *watcher) drain(dst []Entry) ([]Entry, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.n {
		j := (w.head + i) % ringSize
		dst = append(dst, w.ring[j])
		w.ring[j] = Entry{}
	}
	dropped := w.dropped
	w.head, w.n, w.dropped = 0, 0, 0
	return dst, dropped
}
