package hub

import (
	"context"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// notice acts on a cluster notice (see cluster.Notice). It runs on the
// engine's goroutine and must not block.
func (h *Hub) notice(m cluster.Message) {
	if strings.HasPrefix(m.Channel, onlinePrefix) {
		h.onlineNotice(m)
		return
	}
	switch m.Notice {
	case cluster.NoticeTerminateUser:
		h.terminateLocal(m.AppID, m.UserID)
	case cluster.NoticeUserOnline:
		h.notifyWatchers(m.AppID, m.UserID, "online")
	case cluster.NoticeUserOffline:
		h.notifyWatchers(m.AppID, m.UserID, "offline")
	// The engine changed cluster state for a node that could not (it died,
	// or Redis lost its state) and already published the client events;
	// this node reports the transitions to its Observer (webhooks), exactly
	// once cluster-wide.
	case cluster.NoticeMemberAdded:
		h.observe(Event{Kind: MemberAdded, AppID: m.AppID, Channel: m.Channel, UserID: m.UserID})
	case cluster.NoticeMemberRemoved:
		h.observe(Event{Kind: MemberRemoved, AppID: m.AppID, Channel: m.Channel, UserID: m.UserID})
	case cluster.NoticeChannelOccupied:
		h.observe(Event{Kind: ChannelOccupied, AppID: m.AppID, Channel: m.Channel})
	case cluster.NoticeChannelVacated:
		h.observe(Event{Kind: ChannelVacated, AppID: m.AppID, Channel: m.Channel})
	}
}

// onlineNotice turns an engine's own change of a "#online-" pseudo channel
// (a dead node's signed-in sockets reaped, or this node's re-registered after
// Redis lost them) into a watchlist notice for every node; these are not
// presence channels, so nothing reaches the Observer.
func (h *Hub) onlineNotice(m cluster.Message) {
	var n cluster.Notice
	switch m.Notice {
	case cluster.NoticeMemberRemoved:
		n = cluster.NoticeUserOffline
	case cluster.NoticeMemberAdded:
		n = cluster.NoticeUserOnline
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.engine.Publish(ctx, cluster.Message{AppID: m.AppID, UserID: m.UserID, Notice: n})
}
