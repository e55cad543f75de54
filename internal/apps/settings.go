package apps

import (
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// Settings are an app's name, switches and limits: the one shape the config
// file (YAML), the store, the CLI and the console (JSON) read and write.
// Defaults returns the values of a new app; Validate checks them.
type Settings struct {
	Name string `json:"name" yaml:"name"`

	Enabled      bool `json:"enabled" yaml:"enabled"`             // false: connections closed with 4003, publishes 403
	ClientEvents bool `json:"client_events" yaml:"client_events"` // client-* events on private/presence channels
	// UserAuth turns on Pusher's "authorized connections": a connection that
	// has neither signed in (pusher:signin) nor subscribed to a private or
	// presence channel within the server's user_auth_timeout is closed with
	// 4009. Sign-in itself is always available.
	UserAuth          bool `json:"user_auth" yaml:"user_auth"`
	SubscriptionCount bool `json:"subscription_count" yaml:"subscription_count"` // send pusher_internal:subscription_count

	MaxConnections           int   `json:"max_connections" yaml:"max_connections"`                           // 0 = unlimited (4004 past it)
	MaxPresenceMembers       int   `json:"max_presence_members" yaml:"max_presence_members"`                 // default 100
	MaxClientEventsPerSecond int   `json:"max_client_events_per_second" yaml:"max_client_events_per_second"` // default 10 (4301 past it)
	DailyMessageQuota        int64 `json:"daily_message_quota" yaml:"daily_message_quota"`                   // 0 = unlimited

	// Webhooks are the app's webhook endpoints (protocol.md §7).
	Webhooks []Webhook `json:"webhooks" yaml:"webhooks"`

	// AllowedOrigins are the browser origins whose WebSocket handshakes are
	// accepted ("https://app.example.com", "https://*.example.com", "*");
	// empty means any (see OriginAllowed). Others get 4009.
	AllowedOrigins []string `json:"allowed_origins" yaml:"allowed_origins"`

	// History is which channels keep their recent events (history.go).
	History History `json:"history" yaml:"history"`
}

// Webhook is one webhook endpoint of an app.
type Webhook struct {
	URL           string            `json:"url" yaml:"url"`
	Events        []string          `json:"events,omitempty" yaml:"events,omitempty"`                 // event types wanted; empty means all
	ChannelPrefix string            `json:"channel_prefix,omitempty" yaml:"channel_prefix,omitempty"` // only channels starting with this
	Headers       map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`               // extra request headers
}

// Default values of a new app's limits.
const (
	DefaultMaxPresenceMembers       = 100
	DefaultMaxClientEventsPerSecond = 10
)

// Bounds of the settings' values.
const (
	MaxNameLen               = 100
	MaxConnections           = 10_000_000
	MaxPresenceMembers       = 10_000
	MaxClientEventsPerSecond = 1_000
	MaxDailyMessageQuota     = 1_000_000_000_000
	MaxWebhooks              = 10
	MaxWebhookHeaders        = 20
	MaxChannelPrefixLen      = 200
)

// Defaults returns the settings of a new app: enabled, client events,
// user authentication and subscription counts off, 100 presence members,
// 10 client events per second, no connection limit, no quota, no webhooks,
// no name (every app needs one), no channel history (100 events for an
// hour once channels are named).
func Defaults() Settings {
	return Settings{Enabled: true, MaxPresenceMembers: DefaultMaxPresenceMembers,
		MaxClientEventsPerSecond: DefaultMaxClientEventsPerSecond,
		History:                  History{MaxEvents: DefaultHistoryMaxEvents, MaxAgeSeconds: DefaultHistoryMaxAgeSeconds}}
}

// FieldErrors maps each invalid setting (its JSON/YAML name, e.g.
// "webhooks[0].url") to what is wrong with it.
type FieldErrors map[string]string

// Keys returns the invalid settings' names, sorted.
func (fe FieldErrors) Keys() []string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (fe FieldErrors) Error() string {
	keys := fe.Keys()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return "apps: invalid settings: " + strings.Join(parts, "; ")
}

// Validate checks every setting and returns FieldErrors, or nil.
func (s *Settings) Validate() error {
	fe := FieldErrors{}
	n := strings.TrimSpace(s.Name)
	switch {
	case n == "":
		fe["name"] = "must not be empty"
	case n != s.Name:
		fe["name"] = "must not start or end with spaces"
	case len(n) > MaxNameLen:
		fe["name"] = "must be at most " + strconv.Itoa(MaxNameLen) + " bytes"
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		fe["name"] = "must not contain control characters"
	}
	checkRange(fe, "max_connections", int64(s.MaxConnections), 0, MaxConnections, "0 (unlimited)")
	checkRange(fe, "max_presence_members", int64(s.MaxPresenceMembers), 1, MaxPresenceMembers, "1")
	checkRange(fe, "max_client_events_per_second", int64(s.MaxClientEventsPerSecond), 1, MaxClientEventsPerSecond, "1")
	checkRange(fe, "daily_message_quota", s.DailyMessageQuota, 0, MaxDailyMessageQuota, "0 (unlimited)")
	validateWebhooks(fe, s.Webhooks)
	checkOrigins(fe, s.AllowedOrigins)
	validateHistory(fe, s.History)
	if len(fe) > 0 {
		return fe
	}
	return nil
}

func checkRange(fe FieldErrors, field string, v, lo, hi int64, loText string) {
	if v < lo || v > hi {
		fe[field] = "must be between " + loText + " and " + strconv.FormatInt(hi, 10) + ", not " + strconv.FormatInt(v, 10)
	}
}

func validateWebhooks(fe FieldErrors, list []Webhook) {
	if len(list) > MaxWebhooks {
		fe["webhooks"] = "at most " + strconv.Itoa(MaxWebhooks) + " endpoints"
		return
	}
	for i, w := range list {
		f := "webhooks[" + strconv.Itoa(i) + "]"
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe[f+".url"] = "must be an absolute http:// or https:// URL, not " + strconv.Quote(w.URL)
		}
		for _, e := range w.Events {
			if !protocol.ValidWebhookEvent(e) {
				fe[f+".events"] = "unknown event type " + strconv.Quote(e) + " (want one of " +
					strings.Join(protocol.WebhookEvents(), ", ") + ")"
			}
		}
		if len(w.ChannelPrefix) > MaxChannelPrefixLen {
			fe[f+".channel_prefix"] = "must be at most " + strconv.Itoa(MaxChannelPrefixLen) + " bytes"
		}
		if len(w.Headers) > MaxWebhookHeaders {
			fe[f+".headers"] = "at most " + strconv.Itoa(MaxWebhookHeaders) + " headers"
		}
		for _, k := range sortedKeys(w.Headers) {
			switch {
			case !validHeaderName(k) || strings.ContainsAny(w.Headers[k], "\r\n"):
				fe[f+".headers"] = "invalid header " + strconv.Quote(k)
			case reservedHeader(k):
				fe[f+".headers"] = "header " + strconv.Quote(k) + " is set by pixiu"
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func validHeaderName(k string) bool {
	return k != "" && strings.IndexFunc(k, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) < 0
}

// reservedHeader reports the headers every webhook request carries
// (protocol.md §7.1), which an endpoint's extra headers may not replace.
func reservedHeader(k string) bool {
	switch textproto.CanonicalMIMEHeaderKey(k) {
	case "Content-Type", "Content-Length", "Host", "X-Pusher-Key", "X-Pusher-Signature", "X-Pusher-Webhook-Id":
		return true
	}
	return false
}
