package redis

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

var _ cluster.DebugRelay = (*Engine)(nil)

// debugQueue bounds the entries waiting to be published; past it they are
// dropped (a debug stream may lose lines, a publish path never waits).
const debugQueue = 1024

// debugRelay carries the console's debug entries between nodes
// (cluster.DebugRelay). A node with a watcher of an app subscribes to the
// app's debug topic and registers "app\nnode" in a sorted set scored by
// expiry (Redis time), renewed by the health loop; every node reads that set
// on the same tick and sends entries of the apps another node watches. While
// no console watches anything the hot path costs one atomic load and each
// node one small script per Interval.
type debugRelay struct {
	e      *Engine
	wanted atomic.Pointer[map[string]struct{}] // apps watched on another node; nil: none
	queue  chan debugOut

	mu      sync.Mutex
	watches map[string]map[uint64]func([]byte) // app → this node's watchers; guarded by mu
	nextID  uint64                             // guarded by mu

	// Owned by the health loop.
	listening  map[string]bool // apps whose debug topic this node listens to
	registered map[string]bool // apps registered in Redis on the last exchange
}

type debugOut struct{ app, payload string }

func newDebugRelay(e *Engine) *debugRelay {
	return &debugRelay{e: e, queue: make(chan debugOut, debugQueue), watches: map[string]map[uint64]func([]byte){},
		listening: map[string]bool{}, registered: map[string]bool{}}
}

// WatchDebug implements cluster.DebugRelay. The subscription and the
// registration happen on the health loop's next tick.
func (e *Engine) WatchDebug(appID string, recv func([]byte)) (stop func()) {
	d := e.debug
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	if d.watches[appID] == nil {
		d.watches[appID] = map[uint64]func([]byte){}
	}
	d.watches[appID][id] = recv
	d.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			delete(d.watches[appID], id)
			if len(d.watches[appID]) == 0 {
				delete(d.watches, appID)
			}
			d.mu.Unlock()
		})
	}
}

// DebugWanted implements cluster.DebugRelay.
func (e *Engine) DebugWanted(appID string) bool {
	m := e.debug.wanted.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[appID]
	return ok
}

// SendDebug implements cluster.DebugRelay.
func (e *Engine) SendDebug(appID string, entry []byte) {
	select {
	case e.debug.queue <- debugOut{appID, e.node + "\n" + string(entry)}:
	default: // full: the line is lost, the caller never waits
	}
}

// sendLoop publishes queued entries while Redis is up.
func (d *debugRelay) sendLoop() {
	defer d.e.wg.Done()
	for {
		select {
		case <-d.e.stop:
			return
		case m := <-d.queue:
			if d.e.usable() != nil {
				continue
			}
			ctx, cancel := d.e.opCtx(context.Background())
			if err := d.e.publish(ctx, d.e.k.debugTopic(m.app), []byte(m.payload)); err != nil {
				_ = d.e.failedCtx(ctx, err)
			}
			cancel()
		}
	}
}

// deliver hands an entry published for app to this node's watchers,
// unless this node sent it.
func (d *debugRelay) deliver(app, payload string) {
	from, entry, ok := strings.Cut(payload, "\n")
	if !ok || from == d.e.node {
		return
	}
	d.mu.Lock()
	recvs := make([]func([]byte), 0, len(d.watches[app]))
	for _, f := range d.watches[app] {
		recvs = append(recvs, f)
	}
	d.mu.Unlock()
	for _, f := range recvs {
		f([]byte(entry))
	}
}

// exchange runs on the health loop: it (un)subscribes this node's debug
// topics, renews its registrations and learns which apps other nodes watch.
func (d *debugRelay) exchange(ctx context.Context) error {
	d.mu.Lock()
	apps := make([]string, 0, len(d.watches))
	for app := range d.watches {
		apps = append(apps, app)
	}
	d.mu.Unlock()
	watched := make(map[string]bool, len(apps))
	for _, app := range apps {
		watched[app] = true
		if !d.listening[app] && d.e.sub.listen(d.e.k.debugTopic(app)) == nil {
			d.listening[app] = true
		}
	}
	for app := range d.listening {
		if !watched[app] {
			d.e.sub.unlisten(d.e.k.debugTopic(app))
			delete(d.listening, app)
		}
	}
	args := []any{(3*d.e.opts.Interval + d.e.opts.OpTimeout).Milliseconds(), d.e.node, len(apps)}
	for _, app := range apps {
		args = append(args, app)
	}
	for app := range d.registered {
		if !watched[app] {
			args = append(args, app)
		}
	}
	members, err := d.e.runScript(ctx, debugWatch, []string{d.e.k.debugWatch()}, args...).StringSlice()
	if err != nil {
		return err
	}
	d.registered = watched
	var wanted map[string]struct{}
	for _, m := range members {
		app, node, ok := strings.Cut(m, "\n")
		if ok && node != d.e.node {
			if wanted == nil {
				wanted = map[string]struct{}{}
			}
			wanted[app] = struct{}{}
		}
	}
	if wanted == nil {
		d.wanted.Store(nil)
	} else {
		d.wanted.Store(&wanted)
	}
	return nil
}

// debugWatch renews this node's debug registrations and returns every live
// one. KEYS debugWatch; ARGV ttl ms, node, n, then n apps watched here, then
// apps no longer watched here.
var debugWatch = goredis.NewScript(luaNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = tonumber(ARGV[3])
for i = 4, 3 + n do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i] .. '\n' .. ARGV[2]) end
for i = 4 + n, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i] .. '\n' .. ARGV[2]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)
