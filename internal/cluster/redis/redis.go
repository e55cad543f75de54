package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/redisurl"
)

var _ cluster.Engine = (*Engine)(nil)

// ErrUnavailable is returned without calling Redis while the engine knows
// Redis is unreachable (or, for Publish and Listen, while its pub/sub
// connection is down).
var ErrUnavailable = errors.New("redis: unavailable")

// errEpoch is the reply of a script run against a Redis that lost its data.
var errEpoch = errors.New("redis: epoch changed")

// Options configure an Engine. Zero values mean the documented default.
type Options struct {
	// Redis names the Redis: one server, Sentinel or a Redis Cluster (redisurl.Options).
	// When its Mode is empty, URL is parsed instead.
	Redis redisurl.Options
	// URL is any of redisurl.Forms, read when Redis is not set.
	URL string
	// NodeID names this node in Redis; default random. Two live nodes must
	// never share one.
	NodeID string
	// KeyPrefix prefixes every key and topic (default "pixiu:"); clusters
	// sharing one Redis need different prefixes.
	KeyPrefix string
	// LeaseTTL is how long a node's state outlives its last renewal before
	// the other nodes reap it (default 10s).
	LeaseTTL time.Duration
	// Interval is the period of the health loop: lease renewal, reaping,
	// pub/sub pings, connection-count exchange and counter flushes
	// (default min(1s, LeaseTTL/3)).
	Interval time.Duration
	// OpTimeout bounds each Redis call (default 2s).
	OpTimeout time.Duration
	// Log receives lifecycle messages (default: discard).
	Log *slog.Logger
}

// Engine is the Redis cluster engine. It is safe for concurrent use.
type Engine struct {
	opts    Options
	log     *slog.Logger
	handler cluster.Handler
	rdb     goredis.UniversalClient
	cl      *goredis.ClusterClient // nil unless Redis Cluster
	k       keys
	node    string

	// cmdUp is false while Redis is known to be unreachable: operations then
	// fail fast. Only the health loop sets it back to true.
	cmdUp   atomic.Bool
	lastErr atomic.Pointer[string] // why Redis was last marked down
	synced  atomic.Bool            // the mirror has been written since the last failure
	epoch   atomic.Pointer[string] // the epoch this node's state was written under

	sub   *subscriber
	debug *debugRelay
	hist  historyCounters

	// Owned by the health loop.
	upSince time.Time // when Redis last became reachable
	pruned  time.Time // when the index was last pruned
	wasUp   bool      // Redis was reachable once (reconnects are counted after)
	started bool      // the first resync is done
	lost    bool      // Redis lost its data since the last complete resync

	// stripes serialise a resync of one channel with the live operations on
	// it: operations hold a read lock across their mirror update and their
	// script, resync the write lock across its snapshot and its script.
	stripes [64]sync.RWMutex
	seed    maphash.Seed

	mu     sync.Mutex             // guards the fields below
	mirror map[chanKey]*chanState // the state this node owns, as the hub asked for it
	dirty  bool                   // Redis may differ from mirror

	conns sync.Map // app → *connCount

	counters counters // stats.go

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type chanKey struct{ app, ch string }

// chanState is this node's share of one channel. Guarded by Engine.mu.
type chanState struct {
	subs    int
	sockets map[string]memberInfo // socket → member
}

type memberInfo struct{ user, info string }

type connCount struct {
	local  atomic.Int64                     // exact, this node
	remote atomic.Int64                     // the other live nodes, as of the last exchange
	byNode atomic.Pointer[map[string]int64] // every live node's, as of the last exchange

	// Owned by the health loop (tally.go): the hour's cluster-wide peak as
	// this node last knew it.
	peakHour time.Time
	peak     int64
}

// New connects to Redis and starts the engine's goroutines; h receives every
// message published to channels this node listens to, in order. New fails
// only on a bad URL: an unreachable Redis makes the engine unready until it
// answers.
func New(opts Options, h cluster.Handler) (*Engine, error) {
	if opts.Redis.Mode == "" {
		if opts.URL == "" {
			return nil, errors.New("redis: URL is required")
		}
		r, err := redisurl.Parse(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		opts.Redis = r
	} else if err := opts.Redis.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if opts.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.NodeID = hex.EncodeToString(b[:])
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "pixiu:"
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = min(time.Second, opts.LeaseTTL/3)
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, errors.New("redis: the key prefix must not contain '{' or '}' (keys carry Redis Cluster hash tags)")
	}
	rdb, cl, err := newClient(opts.Redis, opts)
	if err != nil {
		return nil, err
	}

	e := &Engine{
		opts:    opts,
		log:     opts.Log.With("component", "cluster", "engine", "redis", "node_id", opts.NodeID),
		handler: h,
		rdb:     rdb,
		cl:      cl,
		k:       keys{opts.KeyPrefix},
		node:    opts.NodeID,
		seed:    maphash.MakeSeed(),
		mirror:  make(map[chanKey]*chanState),
		stop:    make(chan struct{}),
	}
	e.sub = newSubscriber(e)
	e.debug = newDebugRelay(e)
	e.setDown(errors.New("not connected yet"))
	e.wg.Add(3)
	go e.sub.flushLoop()
	go e.debug.sendLoop()
	go e.run()
	return e, nil
}

// NodeID returns the id this node uses in Redis.
func (e *Engine) NodeID() string { return e.node }

// Ready reports whether the node can serve: Redis answers, the pub/sub
// connection is up and this node's state is written.
func (e *Engine) Ready() error {
	switch {
	case !e.cmdUp.Load():
		return fmt.Errorf("%w: %s", ErrUnavailable, *e.lastErr.Load())
	case !e.sub.isUp():
		return fmt.Errorf("%w: pub/sub connection down", ErrUnavailable)
	case !e.synced.Load():
		return fmt.Errorf("%w: re-registering this node's state", ErrUnavailable)
	}
	return nil
}

// Blocking is true: calls are Redis round trips.
func (e *Engine) Blocking() bool { return true }

// Close stops the engine. A drained node (no state left) removes itself
// from Redis; otherwise it gives up its lease at once, so the remaining
// nodes reap its state within one Interval and emit the events. It is
// idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		e.wg.Wait() // the health loop may be connecting the pub/sub
		e.sub.close()
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.OpTimeout)
		defer cancel()
		if e.cmdUp.Load() {
			e.mu.Lock()
			drained := len(e.mirror) == 0 && !e.dirty
			e.mu.Unlock()
			_ = e.rdb.ZAddXX(ctx, e.k.nodes(), goredis.Z{Score: 0, Member: e.node}).Err()
			if drained {
				_ = e.forget(ctx, e.node)
			}
		}
		_ = e.rdb.Close()
	})
	return nil
}

// setDown marks Redis unreachable; operations fail fast until the health
// loop reaches it again. On a Redis Cluster it also reloads the slot map
// (in the background, coalesced): after a shard's primary died, its replica
// is promoted under another address, and nothing else would tell the client
// (calls to the dead address fail without a redirect, and go-redis reloads
// on its own only once a minute), so the probe would keep dialling the dead
// primary of the lease keys.
func (e *Engine) setDown(err error) {
	msg := err.Error()
	e.lastErr.Store(&msg)
	if e.cmdUp.Swap(false) {
		e.log.Warn("redis unreachable: failing fast until it answers", "err", err)
	}
	e.synced.Store(false)
	if e.cl != nil {
		e.cl.ReloadState(context.Background())
	}
}

// usable returns ErrUnavailable while Redis is known to be down.
func (e *Engine) usable() error {
	if !e.cmdUp.Load() {
		return ErrUnavailable
	}
	return nil
}

// failedCtx records a failed call made under the caller's ctx: a reply
// error (a script refused) leaves Redis up, and so does the caller giving up;
// anything else (network error, timeout) marks Redis down.
func (e *Engine) failedCtx(ctx context.Context, err error) error {
	var rerr goredis.Error
	switch {
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "PIXIU_EPOCH"):
		e.markDirty()
		return errEpoch
	case errors.As(err, &rerr) && serverDown(rerr):
		e.setDown(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.As(err, &rerr):
		e.counters.replyErrors.Add(1)
		return fmt.Errorf("redis: %w", err)
	case ctx != nil && ctx.Err() != nil:
		return fmt.Errorf("redis: %w", ctx.Err())
	}
	e.counters.connErrors.Add(1)
	e.setDown(err)
	return fmt.Errorf("redis: %w", err)
}

func (e *Engine) markDirty() {
	e.mu.Lock()
	e.dirty = true
	e.mu.Unlock()
	e.synced.Store(false)
}

// opCtx bounds one call by OpTimeout.
func (e *Engine) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, e.opts.OpTimeout)
}

func (e *Engine) stripe(app, ch string) *sync.RWMutex {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(ch)
	return &e.stripes[h.Sum64()%uint64(len(e.stripes))]
}

func (e *Engine) curEpoch() string {
	if p := e.epoch.Load(); p != nil {
		return *p
	}
	return ""
}

// redirected reports a Redis Cluster redirect or a slot being migrated
// (MOVED, ASK, TRYAGAIN): the command did not run, so it may be sent again.
func redirected(err error) bool {
	var rerr goredis.Error
	if err == nil || !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ") || strings.HasPrefix(msg, "TRYAGAIN")
}

// call runs f, and again after a redirect (a few times, with back-off,
// within ctx) once the slot map is being reloaded. Only redirects are
// retried: a command that may have run is never sent twice.
func (e *Engine) call(ctx context.Context, f func() error) error {
	err := f()
	for i := 0; i < 6 && e.cl != nil && redirected(err); i++ {
		e.cl.ReloadState(ctx)
		t := time.NewTimer(time.Duration(10<<i) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = f()
	}
	return err
}

// runScript runs s through call.
func (e *Engine) runScript(ctx context.Context, s *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	var cmd *goredis.Cmd
	_ = e.call(ctx, func() error {
		cmd = s.Run(ctx, e.rdb, keys, args...)
		return cmd.Err()
	})
	return cmd
}
