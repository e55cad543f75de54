package hub

import "github.com/pixiu-io/pixiu/internal/protocol"

// EventKind names a lifecycle event the hub reports to its Observer.
type EventKind uint8

// Lifecycle events. Webhook kinds mirror protocol.md §7.2.
const (
	ChannelOccupied EventKind = iota + 1
	ChannelVacated
	MemberAdded
	MemberRemoved
	ClientEvent
	CacheMiss
	SubscriptionCount
	Subscribed
	Unsubscribed
	Published
	Connected
	Disconnected
)

var kindNames = [...]string{"", protocol.WebhookChannelOccupied, protocol.WebhookChannelVacated,
	protocol.WebhookMemberAdded, protocol.WebhookMemberRemoved, protocol.WebhookClientEvent,
	protocol.WebhookCacheMiss, protocol.WebhookSubscriptionCount, "subscribed", "unsubscribed", "api_message",
	"connection", "disconnection"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one lifecycle event. Only the fields relevant to Kind are set.
type Event struct {
	Kind     EventKind
	AppID    string
	Channel  string
	Event    string // client or API event name
	Data     string
	SocketID string
	UserID   string
	Count    int    // subscription count, or deliveries for Published
	Reason   string // why a connection closed
}

// Observer receives lifecycle events. Observe is called from connection event
// loops and REST handlers: it must be fast and must not block.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
