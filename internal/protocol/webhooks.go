package protocol

// Webhook event names (protocol.md §7.2): the one list of them. Hub events,
// webhook payloads and the validation of an endpoint's "events" all use it.
const (
	WebhookChannelOccupied   = "channel_occupied"
	WebhookChannelVacated    = "channel_vacated"
	WebhookMemberAdded       = "member_added"
	WebhookMemberRemoved     = "member_removed"
	WebhookClientEvent       = "client_event"
	WebhookCacheMiss         = "cache_miss"
	WebhookSubscriptionCount = "subscription_count"
)

// WebhookEvents returns every webhook event name in protocol.md order (a new
// slice on each call).
func WebhookEvents() []string {
	return []string{WebhookChannelOccupied, WebhookChannelVacated, WebhookMemberAdded, WebhookMemberRemoved,
		WebhookClientEvent, WebhookCacheMiss, WebhookSubscriptionCount}
}

// ValidWebhookEvent reports whether name is a webhook event name.
func ValidWebhookEvent(name string) bool {
	switch name {
	case WebhookChannelOccupied, WebhookChannelVacated, WebhookMemberAdded, WebhookMemberRemoved,
		WebhookClientEvent, WebhookCacheMiss, WebhookSubscriptionCount:
		return true
	}
	return false
}
