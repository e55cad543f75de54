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

// onlinePrefix names the pseudo presence channel that records, through the
// engine's presence (so cluster-wide, with atomic first/last transitions and
// node-death reaping), the signed-in sockets of a user: "#online-<user id>".
// Clients cannot subscribe to "#" names (protocol.md §4).
const onlinePrefix = "#online-"

func onlineChannel(userID string) string { return onlinePrefix + userID }

// SignIn records c as signed in as userID with a watchlist, and when this is
// the user's first signed-in connection anywhere in the cluster, every node
// tells its watchers of the user (protocol.md §3.11). It returns the watched
// ids that are online now: the caller sends them to c after
// pusher:signin_success (see protocol.WatchlistData), so a client learns the
// initial status only once the sign-in is recorded.
func (h *Hub) SignIn(appID string, c Client, userID string, watchlist []string) (online []string) {
	u := &h.users
	k := userKey{appID, userID}
	u.mu.Lock()
	set := u.clients[k]
	if set == nil {
		set = make(map[Client]struct{}, 1)
		u.clients[k] = set
	}
	set[c] = struct{}{}
	for _, w := range watchlist {
		wk := userKey{appID, w}
		ws := u.watchers[wk]
		if ws == nil {
			ws = make(map[Client]struct{}, 1)
			u.watchers[wk] = ws
		}
		ws[c] = struct{}{}
	}
	u.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(watchlist) > 0 {
		chans := make([]string, len(watchlist))
		for i, w := range watchlist {
			chans[i] = onlineChannel(w)
		}
		// One engine round trip for the whole watchlist.
		if counts, err := h.engine.MemberCounts(ctx, appID, chans); err == nil {
			for i, n := range counts {
				if n > 0 && i < len(watchlist) {
					online = append(online, watchlist[i])
				}
			}
		}
	}
	first, err := h.engine.AddMember(ctx, appID, onlineChannel(userID), c.SocketID(), protocol.Member{UserID: userID})
	if err == nil && first {
		_ = h.engine.Publish(ctx, cluster.Message{AppID: appID, UserID: userID, Notice: cluster.NoticeUserOnline})
	}
	return online
}

// SignOut undoes SignIn when c closes.
func (h *Hub) SignOut(appID string, c Client, userID string, watchlist []string) {
	u := &h.users
	k := userKey{appID, userID}
	u.mu.Lock()
	if set := u.clients[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(u.clients, k)
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
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, err := h.engine.RemoveMember(ctx, appID, onlineChannel(userID), c.SocketID(), userID)
	if err == nil && last {
		_ = h.engine.Publish(ctx, cluster.Message{AppID: appID, UserID: userID, Notice: cluster.NoticeUserOffline})
	}
}

// notifyWatchers sends this node's watchers of userID a watchlist event.
func (h *Hub) notifyWatchers(appID, userID, name string) {
	u := &h.users
	u.mu.Lock()
	var list []Client
	for w := range u.watchers[userKey{appID, userID}] {
		list = append(list, w)
	}
	u.mu.Unlock()
	if len(list) == 0 {
		return
	}
	frame := protocol.AppendEvent(nil, protocol.EventWatchlist, "", protocol.WatchlistData(name, []string{userID}), "")
	for _, w := range list {
		w.Send(frame)
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
