package hub

import (
	"context"
	"sync"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

type userKey struct{ app, id string }

// userRegistry tracks signed-in users' local clients and who watches whom
// (protocol.md §3.10, §3.11). Guarded by mu; never held while calling out
// except Client.Send/Close, which do not block.
type userRegistry struct {
	mu       sync.Mutex
	clients  map[userKey]map[Client]struct{} // signed-in clients per user
	watchers map[userKey]map[Client]struct{} // clients watching a user id
}

func (u *userRegistry) init() {
	u.clients = make(map[userKey]map[Client]struct{})
	u.watchers = make(map[userKey]map[Client]struct{})
}

// SignIn records c as signed in as userID with a watchlist. It sends c the
// online status of the watched ids it can see, and tells the user's watchers
// it came online if this is its first connection.
func (h *Hub) SignIn(appID string, c Client, userID string, watchlist []string) {
	u := &h.users
	k := userKey{appID, userID}
	u.mu.Lock()
	set := u.clients[k]
	first := set == nil
	if first {
		set = make(map[Client]struct{}, 1)
		u.clients[k] = set
	}
	set[c] = struct{}{}
	var online []string
	for _, w := range watchlist {
		wk := userKey{appID, w}
		ws := u.watchers[wk]
		if ws == nil {
			ws = make(map[Client]struct{}, 1)
			u.watchers[wk] = ws
		}
		ws[c] = struct{}{}
		if len(u.clients[wk]) > 0 {
			online = append(online, w)
		}
	}
	var notify []Client
	if first {
		for w := range u.watchers[k] {
			notify = append(notify, w)
		}
	}
	u.mu.Unlock()

	if len(online) > 0 {
		c.Send(protocol.AppendEvent(nil, protocol.EventWatchlist, "", protocol.WatchlistData("online", online), ""))
	}
	if len(notify) > 0 {
		frame := protocol.AppendEvent(nil, protocol.EventWatchlist, "", protocol.WatchlistData("online", []string{userID}), "")
		for _, w := range notify {
			w.Send(frame)
		}
	}
}

// SignOut undoes SignIn when c closes.
func (h *Hub) SignOut(appID string, c Client, userID string, watchlist []string) {
	u := &h.users
	k := userKey{appID, userID}
	u.mu.Lock()
	last := false
	if set := u.clients[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(u.clients, k)
			last = true
		}
	}
	for _, w := range watchlist {
		wk := userKey{appID, w}
		if ws := u.watchers[wk]; ws != nil {
			delete(ws, c)
			if len(ws) == 0 {
				delete(u.watchers, wk)
			}
		}
	}
	var notify []Client
	if last {
		for w := range u.watchers[k] {
			notify = append(notify, w)
		}
	}
	u.mu.Unlock()
	if len(notify) > 0 {
		frame := protocol.AppendEvent(nil, protocol.EventWatchlist, "", protocol.WatchlistData("offline", []string{userID}), "")
		for _, w := range notify {
			w.Send(frame)
		}
	}
}

// TerminateUser closes every connection signed in as userID on every node
// (protocol.md §3.10: 4009): this node's at once, the other nodes' through a
// cluster notice. It returns how many it closed on this node.
func (h *Hub) TerminateUser(appID, userID string) int {
	n := h.terminateLocal(appID, userID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.engine.Publish(ctx, cluster.Message{AppID: appID, UserID: userID, Notice: cluster.NoticeTerminateUser})
	return n
}

// terminateLocal closes this node's connections signed in as userID.
func (h *Hub) terminateLocal(appID, userID string) int {
	u := &h.users
	u.mu.Lock()
	var list []Client
	for c := range u.clients[userKey{appID, userID}] {
		list = append(list, c)
	}
	u.mu.Unlock()
	for _, c := range list {
		c.Close(protocol.ErrTerminated)
	}
	return len(list)
}
