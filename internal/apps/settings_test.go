package apps

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func named(name string, edit func(*Settings)) Settings {
	s := Defaults()
	s.Name = name
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	d := Defaults()
	if !d.Enabled || d.MaxPresenceMembers != 100 || d.MaxClientEventsPerSecond != 10 || d.ClientEvents ||
		d.UserAuth || d.SubscriptionCount || d.MaxConnections != 0 || d.DailyMessageQuota != 0 || d.Webhooks != nil {
		t.Fatalf("defaults = %+v", d)
	}
	if err := d.Validate(); err == nil || err.(FieldErrors)["name"] == "" || len(err.(FieldErrors)) != 1 {
		t.Fatalf("defaults without a name: %v, want only a name error", err)
	}
	if s := named("x", nil); s.Validate() != nil {
		t.Fatalf("named defaults: %v", s.Validate())
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	hook := func(w Webhook) func(*Settings) { return func(s *Settings) { s.Webhooks = []Webhook{w} } }
	cases := []struct {
		name  string
		st    Settings
		field string // the one field reported; "" = valid
		text  string // in its message
	}{
		{"empty name", named("   ", nil), "name", "empty"},
		{"padded name", named(" a ", nil), "name", "spaces"},
		{"long name", named(strings.Repeat("n", 101), nil), "name", "100 bytes"},
		{"control", named("a\nb", nil), "name", "control"},
		{"connections", named("a", func(s *Settings) { s.MaxConnections = -1 }), "max_connections", "not -1"},
		{"presence", named("a", func(s *Settings) { s.MaxPresenceMembers = 0 }), "max_presence_members", "between 1 and 10000"},
		{"client rate", named("a", func(s *Settings) { s.MaxClientEventsPerSecond = 5000 }), "max_client_events_per_second", "not 5000"},
		{"quota", named("a", func(s *Settings) { s.DailyMessageQuota = -1 }), "daily_message_quota", "0 (unlimited)"},
		{"hook url", named("a", hook(Webhook{URL: "/relative"})), "webhooks[0].url", `"/relative"`},
		{"ftp", named("a", hook(Webhook{URL: "ftp://example.com/"})), "webhooks[0].url", "http"},
		{"hook event", named("a", hook(Webhook{URL: "http://a/", Events: []string{"channel_existence"}})),
			"webhooks[0].events", `"channel_existence" (want one of channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, subscription_count)`},
		{"hook header", named("a", hook(Webhook{URL: "http://x", Headers: map[string]string{"Bad Name": "v"}})), "webhooks[0].headers", "invalid"},
		{"reserved header", named("a", hook(Webhook{URL: "http://a/", Headers: map[string]string{"content-type": "text/plain"}})), "webhooks[0].headers", "set by pixiu"},
		{"signature header", named("a", hook(Webhook{URL: "http://a/", Headers: map[string]string{"X-Pusher-Signature": "x"}})), "webhooks[0].headers", "set by pixiu"},
		{"long prefix", named("a", hook(Webhook{URL: "http://a/", ChannelPrefix: strings.Repeat("p", 201)})), "webhooks[0].channel_prefix", "200"},
		{"too many hooks", named("a", func(s *Settings) { s.Webhooks = make([]Webhook, 11) }), "webhooks", "10 endpoints"},
		{"ok", named("fine", func(s *Settings) {
			s.DailyMessageQuota = MaxDailyMessageQuota
			s.Webhooks = []Webhook{{URL: "https://x.test/h", Events: []string{"member_added", "client_event"},
				ChannelPrefix: "private-", Headers: map[string]string{"Authorization": "Bearer x"}}}
		}), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.st.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || !strings.Contains(fe[tc.field], tc.text) {
				t.Fatalf("want one error on %s containing %q, got %v", tc.field, tc.text, err)
			}
		})
	}
}

// TestAppJSON: the CLI and the console show an app in one JSON shape, with
// the settings' names at the top level.
func TestAppJSON(t *testing.T) {
	t.Parallel()
	a := App{ID: "1", Key: "k", Settings: named("n", nil), ReadOnly: true}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"1","key":"k","name":"n","enabled":true,"client_events":false,"user_auth":false,` +
		`"subscription_count":false,"max_connections":0,"max_presence_members":100,` +
		`"max_client_events_per_second":10,"daily_message_quota":0,"webhooks":null,"allowed_origins":null,` +
		`"history":{"channels":null,"max_events":100,"max_age_seconds":3600},"read_only":true}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestHistorySettings(t *testing.T) {
	t.Parallel()
	s := named("n", nil)
	if n, age := s.HistoryFor("price-btc"); n != 0 || age != 0 {
		t.Fatalf("history on by default: %d %s", n, age)
	}
	s.History.Channels = []string{"price-", "private-orders"}
	if n, age := s.HistoryFor("price-btc"); n != 100 || age != time.Hour {
		t.Fatalf("price-btc: %d %s, want 100 events for 1h", n, age)
	}
	if n, _ := s.HistoryFor("chat"); n != 0 {
		t.Fatalf("chat matched no prefix but keeps %d", n)
	}
	s.History.Channels = []string{"*"}
	if n, _ := s.HistoryFor("anything"); n != 100 {
		t.Fatalf(`"*" does not match every channel`)
	}
	for _, tc := range []struct {
		field string
		set   func(*History)
	}{
		{"history.max_events", func(h *History) { h.MaxEvents = 0 }},
		{"history.max_events", func(h *History) { h.MaxEvents = MaxHistoryEvents + 1 }},
		{"history.max_age_seconds", func(h *History) { h.MaxAgeSeconds = 0 }},
		{"history.channels", func(h *History) { h.Channels = []string{"bad prefix"} }},
		{"history.channels", func(h *History) { h.Channels = make([]string, MaxHistoryChannels+1) }},
	} {
		bad := named("n", nil)
		tc.set(&bad.History)
		var fe FieldErrors
		if err := bad.Validate(); !errors.As(err, &fe) || fe[tc.field] == "" {
			t.Errorf("%+v: %v, want an error on %s", bad.History, err, tc.field)
		}
	}
}
