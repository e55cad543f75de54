package webhook

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Request headers (protocol.md §7.1). HeaderID carries the batch's stable id
// so that receivers can de-duplicate retries.
const (
	HeaderKey       = "X-Pusher-Key"
	HeaderSignature = "X-Pusher-Signature"
	HeaderID        = "X-Pusher-Webhook-Id"
	contentType     = "application/json" // exactly: pusher-http-node rejects any parameter
)

// typeOf returns the webhook type of a hub event kind, if it has one.
func typeOf(k hub.EventKind) (string, bool) {
	switch k {
	case hub.ChannelOccupied, hub.ChannelVacated, hub.MemberAdded, hub.MemberRemoved,
		hub.ClientEvent, hub.CacheMiss, hub.SubscriptionCount:
		return k.String(), true
	}
	return "", false
}

// wants reports whether endpoint w takes events of type typ on channel.
func wants(w *apps.Webhook, typ, channel string) bool {
	if !strings.HasPrefix(channel, w.ChannelPrefix) {
		return false
	}
	return len(w.Events) == 0 || slices.Contains(w.Events, typ)
}

// groupOf is an endpoint's identity within its app: events of one group,
// and only those, share a batch.
func groupOf(w *apps.Webhook) string {
	return w.URL + "\n" + w.ChannelPrefix + "\n" + strings.Join(w.Events, ",")
}

// wireEvent is one element of a webhook's "events" (protocol.md §7.2).
type wireEvent struct {
	Name              string  `json:"name"`
	Channel           string  `json:"channel"`
	Event             string  `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"` // client_event: always, as a string
	SocketID          string  `json:"socket_id,omitempty"`
	UserID            string  `json:"user_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// encodeEvent returns the JSON object of one webhook event.
func encodeEvent(e hub.Event) []byte {
	w := wireEvent{Name: e.Kind.String(), Channel: e.Channel}
	switch e.Kind {
	case hub.MemberAdded, hub.MemberRemoved:
		w.UserID = e.UserID
	case hub.ClientEvent:
		data := e.Data
		w.Event, w.Data, w.SocketID = e.Event, &data, e.SocketID
		// protocol.md §7.2: user_id only on presence channels.
		if protocol.ParseChannel(e.Channel).Kind == protocol.Presence {
			w.UserID = e.UserID
		}
	case hub.SubscriptionCount:
		n := e.Count
		w.SubscriptionCount = &n
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		panic("webhook: encode event: " + err.Error()) // strings and ints always encode
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// body returns a webhook request body: {"time_ms":…,"events":[…]}.
func body(t time.Time, events [][]byte) []byte {
	n := 40
	for _, e := range events {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}
