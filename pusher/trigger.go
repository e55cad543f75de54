package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// TriggerOptions are the optional parameters of a trigger.
type TriggerOptions struct {
	// SocketID excludes that connection from receiving the event.
	SocketID string
	// Info asks for channel attributes in the answer, a comma list such as
	// "user_count,subscription_count". Pusher counts such a publish twice.
	Info string
}

// ChannelInfo holds the attributes a server reports for one channel. A count
// is zero when the server did not report it.
type ChannelInfo struct {
	UserCount         int `json:"user_count,omitempty"`
	SubscriptionCount int `json:"subscription_count,omitempty"`
}

// TriggerResult is the answer to Trigger.
type TriggerResult struct {
	// Channels holds one entry per channel when TriggerOptions.Info was set.
	Channels map[string]ChannelInfo `json:"channels,omitempty"`
	// Raw is the server's JSON answer as received.
	Raw json.RawMessage `json:"-"`
}

// Event is one event of TriggerBatch.
type Event struct {
	Channel string
	Name    string
	// Data is sent as is when it is a string or []byte, JSON-encoded otherwise.
	Data     interface{}
	SocketID *string // optional: connection to exclude
	Info     *string // optional: attributes to report in the answer
}

// triggerBody is the JSON body of POST /events (protocol.md §6.3).
type triggerBody struct {
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
	Data     string   `json:"data"`
	SocketID string   `json:"socket_id,omitempty"`
	Info     string   `json:"info,omitempty"`
}

// batchItem is one event of POST /batch_events (protocol.md §6.4).
type batchItem struct {
	Channel  string `json:"channel"`
	Name     string `json:"name"`
	Data     string `json:"data"`
	SocketID string `json:"socket_id,omitempty"`
	Info     string `json:"info,omitempty"`
}

// TriggerContext publishes event with data on channels (1 to 100) and
// returns the server's answer. data is sent as is when it is a string or
// []byte and JSON-encoded otherwise; on a private-encrypted channel it is
// encrypted with the master key. opts may be nil.
func (c *Client) TriggerContext(ctx context.Context, channels []string, event string, data any, opts *TriggerOptions) (*TriggerResult, error) {
	body, err := c.triggerRequest(channels, event, data, opts)
	if err != nil {
		return nil, err
	}
	return c.sendTrigger(ctx, body)
}

// SendToUserContext publishes event to every connection of the signed-in
// user userID, through the channel "#server-to-user-<userID>".
func (c *Client) SendToUserContext(ctx context.Context, userID, event string, data any) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	_, err := c.TriggerContext(ctx, []string{serverToUserPrefix + userID}, event, data, nil)
	return err
}

// TriggerBatchContext publishes several events in one request. Pusher
// accepts at most 10 events per batch.
func (c *Client) TriggerBatchContext(ctx context.Context, events []Event) (*TriggerBatchChannelsList, error) {
	if len(events) == 0 {
		return nil, errors.New("pusher: trigger batch: no events")
	}
	items := make([]batchItem, len(events))
	for i, e := range events {
		if err := checkChannel(e.Channel); err != nil {
			return nil, fmt.Errorf("pusher: batch event %d: %w", i, err)
		}
		socketID, info := deref(e.SocketID), deref(e.Info)
		if err := firstError(checkEvent(e.Name), checkSocketID(socketID)); err != nil {
			return nil, fmt.Errorf("pusher: batch event %d: %w", i, err)
		}
		data, err := c.eventData(e.Channel, e.Data)
		if err != nil {
			return nil, fmt.Errorf("pusher: batch event %d: %w", i, err)
		}
		items[i] = batchItem{Channel: e.Channel, Name: e.Name, Data: data, SocketID: socketID, Info: info}
	}
	body, err := json.Marshal(struct {
		Batch []batchItem `json:"batch"`
	}{items})
	if err != nil {
		return nil, fmt.Errorf("pusher: trigger batch: %w", err)
	}
	b, err := c.do(ctx, http.MethodPost, "/batch_events", nil, body)
	if err != nil {
		return nil, err
	}
	res := &TriggerBatchChannelsList{}
	if err := json.Unmarshal(b, res); err != nil {
		return nil, fmt.Errorf("pusher: trigger batch: decode response: %w", err)
	}
	return res, nil
}

// triggerRequest validates a trigger and returns its JSON body.
func (c *Client) triggerRequest(channels []string, event string, data any, opts *TriggerOptions) ([]byte, error) {
	if opts == nil {
		opts = &TriggerOptions{}
	}
	if err := firstError(checkChannels(channels), checkEvent(event), checkSocketID(opts.SocketID)); err != nil {
		return nil, err
	}
	s, err := c.eventData(channels[0], data)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(triggerBody{Name: event, Channels: channels, Data: s, SocketID: opts.SocketID, Info: opts.Info})
	if err != nil {
		return nil, fmt.Errorf("pusher: trigger: %w", err)
	}
	return body, nil
}

func (c *Client) sendTrigger(ctx context.Context, body []byte) (*TriggerResult, error) {
	b, err := c.do(ctx, http.MethodPost, "/events", nil, body)
	if err != nil {
		return nil, err
	}
	res := &TriggerResult{Raw: b}
	if err := json.Unmarshal(b, res); err != nil {
		return nil, fmt.Errorf("pusher: trigger: decode response: %w", err)
	}
	return res, nil
}

// eventData encodes data for channel: as is for string and []byte, JSON
// otherwise, then encrypted for private-encrypted channels, then checked
// against the size limit.
func (c *Client) eventData(channel string, data any) (string, error) {
	var s string
	switch d := data.(type) {
	case string:
		s = d
	case []byte:
		s = string(d)
	default:
		b, err := json.Marshal(data)
		if err != nil {
			return "", fmt.Errorf("pusher: encode event data: %w", err)
		}
		s = string(b)
	}
	if isEncrypted(channel) {
		var err error
		if s, err = c.encrypt(channel, s); err != nil {
			return "", err
		}
	}
	if len(s) > c.dataLimit() {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrDataTooLarge, len(s), c.dataLimit())
	}
	return s, nil
}
