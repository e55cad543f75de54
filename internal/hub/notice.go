package hub

import "github.com/pixiu-io/pixiu/internal/cluster"

// notice acts on a cluster notice (see cluster.Notice). It runs on the
// engine's goroutine and must not block.
func (h *Hub) notice(m cluster.Message) {
	switch m.Notice {
	case cluster.NoticeTerminateUser:
		h.terminateLocal(m.AppID, m.UserID)
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
