package protocol

import "strconv"

// PresenceData returns the data string of a presence subscription_succeeded:
// {"presence":{"ids":[…],"hash":{id:user_info},"count":n}} (protocol.md §3.5).
// Ids are strings; a member without user_info maps to null.
func PresenceData(members []Member) string {
	b := make([]byte, 0, 64+len(members)*48)
	b = append(b, `{"presence":{"ids":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, m.UserID)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, m.UserID)
		b = append(b, ':')
		b = appendInfo(b, m.UserInfo)
	}
	b = append(b, `},"count":`...)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	return string(append(b, "}}"...))
}

// MemberAddedData is the data of pusher_internal:member_added.
func MemberAddedData(m Member) string {
	b := AppendString([]byte(`{"user_id":`), m.UserID)
	b = append(b, `,"user_info":`...)
	b = appendInfo(b, m.UserInfo)
	return string(append(b, '}'))
}

// MemberRemovedData is the data of pusher_internal:member_removed.
func MemberRemovedData(userID string) string {
	b := AppendString([]byte(`{"user_id":`), userID)
	return string(append(b, '}'))
}

// SubscriptionCountData is the data of pusher_internal:subscription_count.
func SubscriptionCountData(n int) string {
	return `{"subscription_count":` + strconv.Itoa(n) + `}`
}

// WatchlistData is the data of pusher_internal:watchlist_events with one
// entry named name ("online" or "offline") (protocol.md §3.11).
func WatchlistData(name string, userIDs []string) string {
	b := AppendString([]byte(`{"events":[{"name":`), name)
	b = append(b, `,"user_ids":[`...)
	for i, id := range userIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, id)
	}
	return string(append(b, "]}]}"...))
}

// ConnectionEstablishedData is the data of pusher:connection_established.
func ConnectionEstablishedData(socketID string, activityTimeoutSec int) string {
	b := AppendString([]byte(`{"socket_id":`), socketID)
	b = append(b, `,"activity_timeout":`...)
	b = strconv.AppendInt(b, int64(activityTimeoutSec), 10)
	return string(append(b, '}'))
}

func appendInfo(b []byte, info []byte) []byte {
	if len(info) == 0 {
		return append(b, "null"...)
	}
	return append(b, info...)
}
