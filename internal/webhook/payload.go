package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Types are the webhook event types (protocol.md §7.2), the values an
// endpoint's Events list may hold.
var Types = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed",
	"client_event", "cache_miss", "subscription_count"}

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

// CheckEndpoint reports what is wrong with an endpoint's configuration: the
// URL must be absolute http(s), event types must be among Types, and extra
// headers may not replace the ones Pixiu sets.
func CheckEndpoint(w apps.Webhook) error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an absolute http or https URL", w.URL)
	}
	for _, e := range w.Events {
		if !slices.Contains(Types, e) {
			return fmt.Errorf("unknown event type %q (want one of %s)", e, strings.Join(Types, ", "))
		}
	}
	for h := range w.Headers {
		switch http.CanonicalHeaderKey(h) {
		case "Content-Type", HeaderKey, HeaderSignature, HeaderID, "Content-Length", "Host":
			return fmt.Errorf("header %q is set by pixiu", h)
		}
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			return errors.New("invalid header name " + strconv.Quote(h))
		}
	}
	return nil
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
