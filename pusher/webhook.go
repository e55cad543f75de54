package pusher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// Webhook is a verified webhook request (protocol.md §7).
type Webhook struct {
	// TimeMs is when the server created the webhook, in Unix milliseconds.
	TimeMs int            `json:"time_ms"`
	Events []WebhookEvent `json:"events"`
}

// WebhookEvent is one event of a webhook. Which fields are set depends on
// Name: channel_occupied, channel_vacated, member_added, member_removed,
// client_event, cache_miss, subscription_count.
type WebhookEvent struct {
	Name     string `json:"name"`
	Channel  string `json:"channel"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	// SubscriptionCount is set by subscription_count events. Both a number
	// and a quoted number (as in Pusher's docs) are accepted.
	SubscriptionCount int `json:"subscription_count,omitempty"`
}

// UnmarshalJSON accepts subscription_count as a number or a string.
func (e *WebhookEvent) UnmarshalJSON(b []byte) error {
	type plain WebhookEvent
	var v struct {
		*plain
		Count json.RawMessage `json:"subscription_count"`
	}
	v.plain = (*plain)(e)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v.Count) == 0 || string(v.Count) == "null" {
		return nil
	}
	raw := v.Count
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		raw = []byte(s)
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("subscription_count: %w", err)
	}
	e.SubscriptionCount = n
	return nil
}

// Webhook verifies a webhook request from its headers and raw body: the
// X-Pusher-Key header must be the app key and X-Pusher-Signature the
// HMAC-SHA256 of body with the app secret. It then parses the body. With
// Options.EncryptionMasterKey set, the data of client events on
// private-encrypted-* channels is decrypted. Errors wrap ErrInvalidWebhook
// (or ErrEncryption).
func (c *Client) Webhook(header http.Header, body []byte) (*Webhook, error) {
	if k := header.Get("X-Pusher-Key"); k != c.Key {
		return nil, fmt.Errorf("%w: X-Pusher-Key %q is not the app key", ErrInvalidWebhook, k)
	}
	if !signature.VerifyWebhook(c.Secret, body, header.Get("X-Pusher-Signature")) {
		return nil, fmt.Errorf("%w: X-Pusher-Signature does not match the body", ErrInvalidWebhook)
	}
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrInvalidWebhook, err)
	}
	if c.EncryptionMasterKey == "" && c.EncryptionMasterKeyBase64 == "" {
		return &w, nil
	}
	for i := range w.Events {
		e := &w.Events[i]
		if e.Data == "" || !isEncrypted(e.Channel) {
			continue
		}
		plain, err := c.decrypt(e.Channel, e.Data)
		if err != nil {
			return nil, fmt.Errorf("pusher: webhook event %d: %w", i, err)
		}
		e.Data = plain
	}
	return &w, nil
}
