package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Client is a connection as the hub sees it. Implementations are owned by a
// transport; the hub only calls these methods.
type Client interface {
	// SocketID returns the connection's socket id.
	SocketID() string
	// Send enqueues one encoded event frame. It copies frame, never blocks,
	// and may close the client (4100) when its outbound buffer is full.
	Send(frame []byte)
	// SendTracked enqueues a published event's frame like Send and, when d
	// is not nil, holds d (Delivery.Hold) until the frame has been handed
	// to the socket, then releases it.
	SendTracked(frame []byte, d *Delivery)
	// Close sends pusher:error with e and closes the connection with e.Code.
	// It is asynchronous and idempotent.
	Close(e *protocol.Error)
}

// Options configure a Hub. Zero values mean the documented default.
type Options struct {
	// Observer receives lifecycle events; nil means none.
	Observer Observer
	// CacheTTL is how long cache channels keep their last event (default 30m).
	CacheTTL time.Duration
	// Shards is the number of registry shards (default 64).
	Shards int
	// OnDeliver, if set, is told how many local sockets each delivered
	// message reached (message counting, protocol.md §8). It must be cheap.
	OnDeliver func(appID string, n int)
	// CountWindow is the shortest time between two flushes of the hub's
	// changed subscription counts, and between two updates of one channel
	// (larger channels wait longer, see counts.go; default 250 ms).
	CountWindow time.Duration
	// History, if set, returns the history policy of an app's channel
	// (issue 15; off when zero). It is asked once per publish and must be
	// cheap.
	History func(appID, channel string) cluster.HistoryPolicy
	// OnWritten, if set, is told for each delivered message that reached at
	// least one local socket how long it took from Deliver to the last of
	// its frames handed to a socket (see Delivery). It must be cheap.
	OnWritten func(time.Duration)
	// AsyncFanout, if positive, moves fan-outs off the publisher: with an
	// engine that delivers on the publishing goroutine (not Blocking: in
	// memory, where that goroutine may be an event loop), a message for
	// more than this many local subscribers is fanned out by its shard's
	// goroutine, in order with the shard's other messages (fanout.go).
	AsyncFanout int
	// Log receives what goes wrong off the callers' goroutines (a panic
	// in a queued fan-out). Default: discard.
	Log *slog.Logger
}

// Hub is one node's realtime state. It is safe for concurrent use.
type Hub struct {
	opts   Options
	engine cluster.Engine
	// blocking caches engine.Blocking(), asked once.
	blocking bool
	seed     maphash.Seed
	shards   []shard
	users    userRegistry

	conns sync.Map // appID → *atomic.Int64, local connection counts

	framePool  sync.Pool // *[]byte scratch for encoding frames
	deliveries sync.Pool // *Delivery, reused once released (delivery.go)

	clientEvents atomic.Int64 // client events accepted by the engine (stats.go)

	// Coalesced subscription counts (counts.go).
	// Times are durations since epoch.
	epoch      time.Time
	countMu    sync.Mutex  // guards the five fields below; never held with another lock
	countTimer *time.Timer // the one flush timer, made on first use
	countArmed bool        // countTimer will fire at countAt
	countAt    time.Duration
	flushed    bool // lastFlush is set
	lastFlush  time.Duration
	flushMu    sync.Mutex // one flush at a time (held across its engine calls); guards dueScratch and lastSweep
	dueScratch []chanKey
	lastSweep  time.Duration
}

type shard struct {
	mu       sync.RWMutex
	channels map[chanKey]*channel // guarded by mu

	fan fanQueue // fan-outs off the publisher (fanout.go)

	// presenceMu orders the shard's presence joins and leaves with a
	// non-blocking engine (lockPresence). Taken before mu.
	presenceMu sync.Mutex

	countMu    sync.Mutex
	counts     map[chanKey]countState // guarded by countMu: channels whose count changed lately
	countDirty []chanKey              // guarded by countMu: the keys of dirty counts
}

type chanKey struct{ app, name string }

// channel is a channel's local subscribers. Guarded by its shard's mu.
type channel struct {
	clients map[Client]struct{}
}

// New returns a hub; newEngine builds the cluster engine, giving it the hub's
// delivery handler.
func New(opts Options, newEngine func(cluster.Handler) (cluster.Engine, error)) (*Hub, error) {
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Minute
	}
	if opts.Shards <= 0 {
		opts.Shards = 64
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CountWindow <= 0 {
		opts.CountWindow = 250 * time.Millisecond
	}
	h := &Hub{opts: opts, seed: maphash.MakeSeed(), shards: make([]shard, opts.Shards), epoch: time.Now()}
	for i := range h.shards {
		h.shards[i].channels = make(map[chanKey]*channel)
		h.shards[i].counts = make(map[chanKey]countState)
		h.shards[i].fan.room.L = &h.shards[i].fan.mu
	}
	h.users.init()
	h.framePool.New = func() any { b := make([]byte, 0, 512); return &b }
	eng, err := newEngine(h.Deliver)
	if err != nil {
		return nil, err
	}
	h.engine = eng
	h.blocking = eng.Blocking()
	return h, nil
}

// Engine returns the cluster engine.
func (h *Hub) Engine() cluster.Engine { return h.engine }

// Blocking reports whether the hub's calls that reach the engine
// (Subscribe, Unsubscribe, SignIn, SignOut, ClientEvent, Publish and the
// queries) may wait on network I/O; see cluster.Engine.Blocking. Transports
// running on event loops make those calls elsewhere when it is true.
func (h *Hub) Blocking() bool { return h.blocking }

func (h *Hub) shardFor(k chanKey) *shard {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(k.app)
	mh.WriteByte(0)
	mh.WriteString(k.name)
	return &h.shards[mh.Sum64()%uint64(len(h.shards))]
}

func (h *Hub) observe(e Event) {
	if h.opts.Observer != nil {
		h.opts.Observer.Observe(e)
	}
}

// Deliver sends m to the local subscribers of its channel, encoding the frame
// once. It is the engine's handler and runs on the publishing goroutine (in
// memory) or the engine's receive goroutine (Redis).
func (h *Hub) Deliver(m cluster.Message) {
	if m.Notice != cluster.NoticeNone { // cluster notices never reach sockets (cluster.go)
		h.notice(m)
		return
	}
	k := chanKey{m.AppID, m.Channel}
	s := h.shardFor(k)
	if h.opts.AsyncFanout > 0 && !h.blocking && h.deliverAsync(s, k, m) {
		return
	}
	h.fanOutNow(s, m, h.newDelivery())
}

// fanOutNow sends m to its channel's local subscribers; d (may be nil)
// follows the frames (delivery.go).
func (h *Hub) fanOutNow(s *shard, m cluster.Message, d *Delivery) {
	k := chanKey{m.AppID, m.Channel}
	bp := h.framePool.Get().(*[]byte)
	frame := protocol.AppendEventID((*bp)[:0], m.Event, m.Channel, m.Data, m.UserID, m.ID)
	n := 0
	s.mu.RLock()
	if ch := s.channels[k]; ch != nil {
		for c := range ch.clients {
			if m.ExcludeSocket != "" && c.SocketID() == m.ExcludeSocket {
				continue
			}
			c.SendTracked(frame, d)
			n++
		}
	}
	s.mu.RUnlock()
	h.endDelivery(d, n)
	*bp = frame
	h.framePool.Put(bp)
	if n > 0 && h.opts.OnDeliver != nil {
		h.opts.OnDeliver(m.AppID, n)
	}
}

// LocalSubscribers returns how many local clients the channel has.
func (h *Hub) LocalSubscribers(appID, channel string) int {
	k := chanKey{appID, channel}
	s := h.shardFor(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ch := s.channels[k]; ch != nil {
		return len(ch.clients)
	}
	return 0
}

// Connect admits a new client of app, enforcing app.MaxConnections on this
// node. Every successful Connect must be paired with Disconnect.
func (h *Hub) Connect(app *apps.App, c Client) *protocol.Error {
	v, ok := h.conns.Load(app.ID)
	if !ok {
		v, _ = h.conns.LoadOrStore(app.ID, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
	// The limit is cluster-wide: the engine adds the other nodes' counts,
	// exchanged in the background (no round trip per connection).
	n := h.engine.AddConnections(app.ID, 1)
	if app.MaxConnections > 0 && n > app.MaxConnections {
		v.(*atomic.Int64).Add(-1)
		h.engine.AddConnections(app.ID, -1)
		return protocol.ErrOverQuota
	}
	h.observe(Event{Kind: Connected, AppID: app.ID, SocketID: c.SocketID()})
	return nil
}

// Disconnect releases what Connect took. The client must have left its
// channels (Unsubscribe) and signed out first.
func (h *Hub) Disconnect(app *apps.App, c Client, reason string) {
	if v, ok := h.conns.Load(app.ID); ok {
		v.(*atomic.Int64).Add(-1)
	}
	h.engine.AddConnections(app.ID, -1)
	h.observe(Event{Kind: Disconnected, AppID: app.ID, SocketID: c.SocketID(), Reason: reason})
}

// Connections returns the number of local connections of an app.
func (h *Hub) Connections(appID string) int {
	if v, ok := h.conns.Load(appID); ok {
		return int(v.(*atomic.Int64).Load())
	}
	return 0
}

// ErrMemberLimit is returned when a presence channel is full.
var ErrMemberLimit = errors.New("hub: presence channel member limit reached")

// Subscribe adds c to channel and sends it subscription_succeeded (then the
// cached event or cache miss on cache channels). member is the presence
// member (nil for other kinds). Authorization is the caller's job.
func (h *Hub) Subscribe(ctx context.Context, app *apps.App, c Client, name string, member *protocol.Member) error {
	kind := protocol.ParseChannel(name)
	socketID := c.SocketID()
	k := chanKey{app.ID, name}
	s := h.shardFor(k)
	if member != nil {
		defer h.lockPresence(s)()
	}
	// Cluster: every engine step comes before the client is added locally
	// and told subscription_succeeded, and a failure undoes the steps taken,
	// so a refused subscription leaves no state on any node. Listen comes
	// first: once it returns, every later publish reaches this node.
	if err := h.engine.Listen(app.ID, name); err != nil {
		return err
	}
	data, members, first, err := h.joinPresence(ctx, app, name, socketID, member)
	if err != nil {
		_ = h.engine.Unlisten(app.ID, name)
		return err
	}
	count, err := h.engine.AddSubscriptions(ctx, app.ID, name, 1)
	if err != nil {
		if member != nil {
			_, _ = h.engine.RemoveMember(ctx, app.ID, name, socketID, member.UserID)
		}
		_ = h.engine.Unlisten(app.ID, name)
		return err
	}

	bp := h.framePool.Get().(*[]byte)
	frame := protocol.AppendEvent((*bp)[:0], protocol.EventSubscriptionSucceeded, name, data, "")
	s.mu.Lock()
	ch := s.channels[k]
	if ch == nil {
		ch = &channel{clients: make(map[Client]struct{}, 1)}
		s.channels[k] = ch
	}
	ch.clients[c] = struct{}{}
	// Sent under the lock so that no channel event can overtake it.
	c.Send(frame)
	s.mu.Unlock()
	*bp = frame
	h.framePool.Put(bp)

	if count == 1 {
		h.observe(Event{Kind: ChannelOccupied, AppID: app.ID, Channel: name})
	}
	h.observe(Event{Kind: Subscribed, AppID: app.ID, Channel: name, SocketID: socketID})
	if member != nil && h.engine.Blocking() {
		h.reconcileMembers(ctx, s, k, c, members)
	}
	if member != nil && first {
		h.observe(Event{Kind: MemberAdded, AppID: app.ID, Channel: name, UserID: member.UserID})
		// The subscription stands from here on (an error would leave the
		// client subscribed here but not in its transport); if the engine
		// cannot publish, the other members miss this member_added.
		_ = h.engine.Publish(ctx, cluster.Message{AppID: app.ID, Channel: name,
			Event: protocol.EventMemberAdded, Data: protocol.MemberAddedData(*member), ExcludeSocket: socketID})
	}
	if kind.Cache {
		_ = h.sendCache(ctx, app.ID, name, c) // the subscription stands, as above
	}
	if app.SubscriptionCount && kind.Kind != protocol.Presence {
		h.countChanged(s, k, count)
	}
	return nil
}

// lockPresence makes a presence join or leave on shard s one step for the
// shard's other presence joins and leaves, with a non-blocking engine (one
// node): a join's member list, its arrival among the channel's local
// subscribers and its member_added then happen with no other join or leave
// in between, so the list a joiner gets and the member events it is sent
// afterwards neither overlap nor leave a gap — concurrent joins otherwise
// sent a member twice, or never (a member_added delivered before the joiner
// was a subscriber, of a member its list did not have yet). It returns the
// unlock. A blocking engine's calls are network round trips that this would
// serialize, and other nodes' joins are not ordered by it anyway: see
// docs/CLUSTER.md's known limits.
func (h *Hub) lockPresence(s *shard) func() {
	if h.engine.Blocking() {
		return func() {}
	}
	s.presenceMu.Lock()
	return s.presenceMu.Unlock
}

// joinPresence records member's socket in a presence channel (nil member:
// not a presence subscription) and returns the subscription_succeeded data
// and whether the user is new to the channel.
func (h *Hub) joinPresence(ctx context.Context, app *apps.App, name, socketID string, member *protocol.Member) (string, []protocol.Member, bool, error) {
	if member == nil {
		return "{}", nil, false, nil
	}
	if app.MaxPresenceMembers > 0 {
		n, err := h.engine.MemberCount(ctx, app.ID, name)
		if err != nil {
			return "", nil, false, err
		}
		if n >= app.MaxPresenceMembers && !h.isMember(ctx, app.ID, name, member.UserID) {
			return "", nil, false, ErrMemberLimit
		}
	}
	first, err := h.engine.AddMember(ctx, app.ID, name, socketID, *member)
	if err != nil {
		return "", nil, false, err
	}
	members, err := h.engine.Members(ctx, app.ID, name)
	if err != nil {
		_, _ = h.engine.RemoveMember(ctx, app.ID, name, socketID, member.UserID)
		return "", nil, false, err
	}
	return protocol.PresenceData(members), members, first, nil
}

// reconcileMembers closes, with a blocking engine (a cluster), most of the
// gap between the member list a joiner was sent (had, read before it became
// a local subscriber) and the member events it gets as one: it reads the
// list again now that c receives the channel's events and sends c, ordered
// with deliveries (under the shard's write lock), member_added for who came
// and member_removed for who left in between. A member event that also
// reaches c through the channel is harmless twice (pusher-js keeps one entry
// and ignores the removal of someone it does not have); what remains is a
// member who joins between this read and the lock and leaves again before
// it, whose removal c may get before the addition (docs/CLUSTER.md).
func (h *Hub) reconcileMembers(ctx context.Context, s *shard, k chanKey, c Client, had []protocol.Member) {
	now, err := h.engine.Members(ctx, k.app, k.name)
	if err != nil {
		return // the events that reach c meanwhile are what it gets
	}
	hadIDs := make(map[string]struct{}, len(had))
	for _, m := range had {
		hadIDs[m.UserID] = struct{}{}
	}
	nowIDs := make(map[string]struct{}, len(now))
	var frames [][]byte
	for _, m := range now {
		nowIDs[m.UserID] = struct{}{}
		if _, ok := hadIDs[m.UserID]; !ok {
			frames = append(frames, protocol.AppendEvent(nil, protocol.EventMemberAdded, k.name, protocol.MemberAddedData(m), ""))
		}
	}
	for _, m := range had {
		if _, ok := nowIDs[m.UserID]; !ok {
			frames = append(frames, protocol.AppendEvent(nil, protocol.EventMemberRemoved, k.name, protocol.MemberRemovedData(m.UserID), ""))
		}
	}
	if len(frames) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[k]; ch == nil {
		return
	} else if _, ok := ch.clients[c]; !ok {
		return // c left meanwhile
	}
	for _, f := range frames {
		c.Send(f)
	}
}

func (h *Hub) isMember(ctx context.Context, appID, channel, userID string) bool {
	ms, err := h.engine.Members(ctx, appID, channel)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.UserID == userID {
			return true
		}
	}
	return false
}

func (h *Hub) sendCache(ctx context.Context, appID, name string, c Client) error {
	ev, ok, err := h.engine.GetCache(ctx, appID, name)
	if err != nil {
		return err
	}
	if ok {
		c.Send(protocol.AppendEvent(nil, ev.Event, name, ev.Data, ""))
		return nil
	}
	// Data "{}" keeps every non-error event's data a string (protocol.md §2).
	c.Send(protocol.AppendEvent(nil, protocol.EventCacheMiss, name, "{}", ""))
	h.observe(Event{Kind: CacheMiss, AppID: appID, Channel: name, SocketID: c.SocketID()})
	return nil
}

// Unsubscribe removes c from channel. userID is the presence member's id
// ("" for other kinds). It reports whether c was subscribed.
func (h *Hub) Unsubscribe(ctx context.Context, app *apps.App, c Client, name, userID string) bool {
	k := chanKey{app.ID, name}
	s := h.shardFor(k)
	if userID != "" {
		defer h.lockPresence(s)()
	}
	s.mu.Lock()
	ch := s.channels[k]
	if ch == nil {
		s.mu.Unlock()
		return false
	}
	if _, ok := ch.clients[c]; !ok {
		s.mu.Unlock()
		return false
	}
	delete(ch.clients, c)
	emptyLocal := len(ch.clients) == 0
	if emptyLocal {
		delete(s.channels, k)
	}
	s.mu.Unlock()

	socketID := c.SocketID()
	_ = h.engine.Unlisten(app.ID, name) // one per Subscribe (cluster.Broker)
	h.observe(Event{Kind: Unsubscribed, AppID: app.ID, Channel: name, SocketID: socketID})
	if userID != "" {
		last, err := h.engine.RemoveMember(ctx, app.ID, name, socketID, userID)
		if err == nil && last {
			h.observe(Event{Kind: MemberRemoved, AppID: app.ID, Channel: name, UserID: userID})
			_ = h.engine.Publish(ctx, cluster.Message{AppID: app.ID, Channel: name,
				Event: protocol.EventMemberRemoved, Data: protocol.MemberRemovedData(userID)})
		}
	}
	count, err := h.engine.AddSubscriptions(ctx, app.ID, name, -1)
	if err == nil && count == 0 {
		h.observe(Event{Kind: ChannelVacated, AppID: app.ID, Channel: name})
	}
	if err == nil && count > 0 && app.SubscriptionCount && protocol.ParseChannel(name).Kind != protocol.Presence {
		h.countChanged(s, k, count)
	}
	return true
}

// Publish publishes an API event on each channel (protocol.md §6.3): the
// event is stored on cache channels and delivered to every subscriber in the
// cluster except excludeSocket.
func (h *Hub) Publish(ctx context.Context, appID string, channels []string, event, data, excludeSocket string) error {
	for _, name := range channels {
		if protocol.ParseChannel(name).Cache {
			ev := cluster.CachedEvent{Event: event, Data: data, TTL: h.opts.CacheTTL}
			if err := h.engine.SetCache(ctx, appID, name, ev); err != nil {
				return err
			}
		}
		err := h.engine.Publish(ctx, cluster.Message{AppID: appID, Channel: name, Event: event,
			Data: data, ExcludeSocket: excludeSocket, History: h.historyPolicy(appID, name)})
		if err != nil {
			return err
		}
		h.observe(Event{Kind: Published, AppID: appID, Channel: name, Event: event, Data: data, SocketID: excludeSocket})
	}
	return nil
}

// ClientEvent forwards a client event from c to the channel's other
// subscribers (protocol.md §3.9). Checks are the caller's job.
func (h *Hub) ClientEvent(ctx context.Context, appID string, c Client, name, event, data, userID string) error {
	err := h.engine.Publish(ctx, cluster.Message{AppID: appID, Channel: name, Event: event, Data: data,
		UserID: userID, ExcludeSocket: c.SocketID(), History: h.historyPolicy(appID, name)})
	if err == nil {
		h.clientEvents.Add(1)
	}
	h.observe(Event{Kind: ClientEvent, AppID: appID, Channel: name, Event: event, Data: data,
		SocketID: c.SocketID(), UserID: userID})
	return err
}

// ChannelInfo is what the REST API reports about one channel.
type ChannelInfo struct {
	Occupied          bool
	SubscriptionCount int
	UserCount         int
	Cache             *cluster.CachedEvent
}

// Channel returns cluster-wide facts about one channel.
func (h *Hub) Channel(ctx context.Context, appID, name string) (ChannelInfo, error) {
	var info ChannelInfo
	n, err := h.engine.SubscriptionCount(ctx, appID, name)
	if err != nil {
		return info, err
	}
	info.Occupied, info.SubscriptionCount = n > 0, n
	if protocol.ParseChannel(name).Kind == protocol.Presence {
		if info.UserCount, err = h.engine.MemberCount(ctx, appID, name); err != nil {
			return info, err
		}
	}
	if protocol.ParseChannel(name).Cache {
		ev, ok, err := h.engine.GetCache(ctx, appID, name)
		if err != nil {
			return info, err
		}
		if ok {
			info.Cache = &ev
		}
	}
	return info, nil
}

// Channels returns occupied channels with the prefix and their subscription counts.
func (h *Hub) Channels(ctx context.Context, appID, prefix string) (map[string]int, error) {
	return h.engine.Channels(ctx, appID, prefix)
}

// Members returns a presence channel's members.
func (h *Hub) Members(ctx context.Context, appID, name string) ([]protocol.Member, error) {
	return h.engine.Members(ctx, appID, name)
}

// MemberCount returns a presence channel's distinct users.
func (h *Hub) MemberCount(ctx context.Context, appID, name string) (int, error) {
	return h.engine.MemberCount(ctx, appID, name)
}
