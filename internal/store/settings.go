package store

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// Settings are the editable fields of an app, shaped as the console's JSON
// and the CLI's flags. A nil field is left unchanged by UpdateApp and takes
// its default in CreateApp.
type Settings struct {
	Name                     *string    `json:"name,omitempty"`
	Enabled                  *bool      `json:"enabled,omitempty"`
	ClientEvents             *bool      `json:"client_events,omitempty"`
	UserAuth                 *bool      `json:"user_auth,omitempty"`
	SubscriptionCount        *bool      `json:"subscription_count,omitempty"`
	MaxConnections           *int       `json:"max_connections,omitempty"`
	MaxPresenceMembers       *int       `json:"max_presence_members,omitempty"`
	MaxClientEventsPerSecond *int       `json:"max_client_events_per_second,omitempty"`
	DailyMessageQuota        *int64     `json:"daily_message_quota,omitempty"`
	Webhooks                 *[]Webhook `json:"webhooks,omitempty"`
}

// Webhook is one webhook endpoint as stored and as the console edits it.
type Webhook struct {
	URL           string            `json:"url"`
	Events        []string          `json:"events,omitempty"`
	ChannelPrefix string            `json:"channel_prefix,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
}

// Defaults of a new app (the config file's defaults for the limits).
const (
	DefaultMaxPresenceMembers = 100
	DefaultMaxClientEventsPS  = 10
)

// Limits on settings values.
const (
	maxNameLen       = 100
	maxConnections   = 10_000_000
	maxPresence      = 10_000
	maxClientEventPS = 1_000
	maxQuota         = 1_000_000_000_000
	maxWebhooks      = 10
	maxWebhookHeader = 20
)

// webhookEvents are the event types an endpoint may ask for (protocol.md §7.2).
var webhookEvents = map[string]bool{"channel_occupied": true, "channel_vacated": true, "member_added": true,
	"member_removed": true, "client_event": true, "cache_miss": true, "subscription_count": true}

// FieldErrors maps each invalid field (its JSON name) to what is wrong with it.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return "store: invalid app settings: " + strings.Join(parts, "; ")
}

// Validate checks every field that is set and returns FieldErrors, or nil.
func (st *Settings) Validate() error {
	fe := FieldErrors{}
	if st.Name != nil {
		n := strings.TrimSpace(*st.Name)
		switch {
		case n == "":
			fe["name"] = "must not be empty"
		case len(n) > maxNameLen:
			fe["name"] = "must be at most " + strconv.Itoa(maxNameLen) + " bytes"
		case strings.IndexFunc(n, unicode.IsControl) >= 0:
			fe["name"] = "must not contain control characters"
		}
	}
	checkRange(fe, "max_connections", st.MaxConnections, 0, maxConnections, "0 (unlimited)")
	checkRange(fe, "max_presence_members", st.MaxPresenceMembers, 1, maxPresence, "1")
	checkRange(fe, "max_client_events_per_second", st.MaxClientEventsPerSecond, 1, maxClientEventPS, "1")
	if q := st.DailyMessageQuota; q != nil && (*q < 0 || *q > maxQuota) {
		fe["daily_message_quota"] = "must be between 0 (unlimited) and " + strconv.FormatInt(maxQuota, 10)
	}
	if st.Webhooks != nil {
		validateWebhooks(fe, *st.Webhooks)
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

func checkRange(fe FieldErrors, field string, v *int, lo, hi int, loText string) {
	if v != nil && (*v < lo || *v > hi) {
		fe[field] = "must be between " + loText + " and " + strconv.Itoa(hi)
	}
}

func validateWebhooks(fe FieldErrors, list []Webhook) {
	if len(list) > maxWebhooks {
		fe["webhooks"] = "at most " + strconv.Itoa(maxWebhooks) + " endpoints"
		return
	}
	for i, w := range list {
		f := "webhooks[" + strconv.Itoa(i) + "]"
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe[f+".url"] = "must be an absolute http:// or https:// URL"
		}
		for _, e := range w.Events {
			if !webhookEvents[e] {
				fe[f+".events"] = "unknown event type " + strconv.Quote(e)
			}
		}
		if len(w.ChannelPrefix) > 200 {
			fe[f+".channel_prefix"] = "must be at most 200 bytes"
		}
		if len(w.Headers) > maxWebhookHeader {
			fe[f+".headers"] = "at most " + strconv.Itoa(maxWebhookHeader) + " headers"
		}
		for k, v := range w.Headers {
			if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
				fe[f+".headers"] = "invalid header " + strconv.Quote(k)
			}
		}
	}
}

func validHeaderName(k string) bool {
	return k != "" && http.CanonicalHeaderKey(k) != "" && strings.IndexFunc(k, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) < 0
}

// apply copies the set fields onto a.
func (st *Settings) apply(a *apps.App) {
	if st.Name != nil {
		a.Name = strings.TrimSpace(*st.Name)
	}
	setIf(&a.Enabled, st.Enabled)
	setIf(&a.ClientEvents, st.ClientEvents)
	setIf(&a.UserAuth, st.UserAuth)
	setIf(&a.SubscriptionCount, st.SubscriptionCount)
	setIf(&a.MaxConnections, st.MaxConnections)
	setIf(&a.MaxPresenceMembers, st.MaxPresenceMembers)
	setIf(&a.MaxClientEventsPerSecond, st.MaxClientEventsPerSecond)
	setIf(&a.DailyMessageQuota, st.DailyMessageQuota)
	if st.Webhooks != nil {
		a.Webhooks = toAppWebhooks(*st.Webhooks)
	}
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func toAppWebhooks(list []Webhook) []apps.Webhook {
	if len(list) == 0 {
		return nil
	}
	out := make([]apps.Webhook, len(list))
	for i, w := range list {
		out[i] = apps.Webhook{URL: w.URL, Events: w.Events, ChannelPrefix: w.ChannelPrefix, Headers: w.Headers}
	}
	return out
}

// WebhooksOf returns an app's webhooks in their stored (JSON) shape.
func WebhooksOf(a *apps.App) []Webhook {
	out := make([]Webhook, len(a.Webhooks))
	for i, w := range a.Webhooks {
		out[i] = Webhook{URL: w.URL, Events: w.Events, ChannelPrefix: w.ChannelPrefix, Headers: w.Headers}
	}
	return out
}
