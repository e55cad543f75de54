package protocol

import "strings"

// Event names (protocol.md §3).
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventCacheMiss             = "pusher:cache_miss"
	EventSubscriptionError     = "pusher:subscription_error"
	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	EventSubscriptionCount     = "pusher_internal:subscription_count"
	EventWatchlist             = "pusher_internal:watchlist_events"
)

// ClientEventPrefix starts every client event name (protocol.md §3.9).
const ClientEventPrefix = "client-"

// ServerToUserPrefix starts the per-user channel (protocol.md §3.10).
const ServerToUserPrefix = "#server-to-user-"

// Kind is a channel's type, decided by its name's prefix (protocol.md §4).
type Kind uint8

// Channel kinds.
const (
	Public Kind = iota
	Private
	Encrypted
	Presence
	ServerToUser
)

// Channel describes a channel name: its kind and whether it caches its last event.
type Channel struct {
	Kind  Kind
	Cache bool
}

// ParseChannel returns the kind of the channel named name (protocol.md §4, in
// the order given there). It does not validate the name.
func ParseChannel(name string) Channel {
	switch {
	case strings.HasPrefix(name, ServerToUserPrefix):
		return Channel{Kind: ServerToUser}
	case strings.HasPrefix(name, "private-encrypted-"):
		return Channel{Kind: Encrypted, Cache: strings.HasPrefix(name, "private-encrypted-cache-")}
	case strings.HasPrefix(name, "private-"):
		return Channel{Kind: Private, Cache: strings.HasPrefix(name, "private-cache-")}
	case strings.HasPrefix(name, "presence-"):
		return Channel{Kind: Presence, Cache: strings.HasPrefix(name, "presence-cache-")}
	case strings.HasPrefix(name, "cache-"):
		return Channel{Kind: Public, Cache: true}
	}
	return Channel{Kind: Public}
}

// NeedsAuth reports whether subscribing needs a signature.
func (c Channel) NeedsAuth() bool {
	return c.Kind == Private || c.Kind == Encrypted || c.Kind == Presence
}

// AllowsClientEvents reports whether client events may be sent on the channel.
// Encrypted channels are refused: the server would see plaintext (protocol.md §3.9).
func (c Channel) AllowsClientEvents() bool { return c.Kind == Private || c.Kind == Presence }

// ValidChannelName reports whether name uses only [-a-zA-Z0-9_=@,.;] and is
// 1..maxLen bytes long; "#server-to-user-<id>" is valid when id is.
func ValidChannelName(name string, maxLen int) bool {
	if len(name) == 0 || len(name) > maxLen {
		return false
	}
	if strings.HasPrefix(name, ServerToUserPrefix) {
		return ValidUserID(name[len(ServerToUserPrefix):])
	}
	return validChars(name)
}

// ValidUserID reports whether id can be a user id: the channel-name alphabet,
// 1..128 bytes (protocol.md §3.10, §4).
func ValidUserID(id string) bool {
	return len(id) > 0 && len(id) <= 128 && validChars(id)
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '=' || c == '@' || c == ',' || c == '.' || c == ';') {
			return false
		}
	}
	return true
}

// ValidSocketID reports whether id matches ^\d+\.\d+$ (protocol.md §3.1).
func ValidSocketID(id string) bool {
	dot := strings.IndexByte(id, '.')
	if dot <= 0 || dot == len(id)-1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if i != dot && (id[i] < '0' || id[i] > '9') {
			return false
		}
	}
	return true
}

// ReservedEventName reports whether an event name is reserved for the
// protocol and may not be published by applications.
func ReservedEventName(name string) bool {
	return strings.HasPrefix(name, "pusher:") || strings.HasPrefix(name, "pusher_internal:")
}
