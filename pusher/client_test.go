package pusher_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/pusher"
)

func TestTrigger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		channels []string
		data     any
		opts     *pusher.TriggerOptions
		resp     string
		wantBody string
		want     map[string]pusher.ChannelInfo
	}{
		{name: "string data sent as is", channels: []string{"project-3"}, data: `{"some":"data"}`,
			wantBody: `{"name":"ev","channels":["project-3"],"data":"{\"some\":\"data\"}"}`},
		{name: "struct data json encoded", channels: []string{"a", "b"}, data: map[string]int{"x": 1},
			wantBody: `{"name":"ev","channels":["a","b"],"data":"{\"x\":1}"}`},
		{name: "bytes sent as is", channels: []string{"a"}, data: []byte("raw"),
			wantBody: `{"name":"ev","channels":["a"],"data":"raw"}`},
		{name: "socket id and info", channels: []string{"presence-a", "b"}, data: "d",
			opts:     &pusher.TriggerOptions{SocketID: "123.456", Info: "user_count,subscription_count"},
			resp:     `{"channels":{"presence-a":{"user_count":42},"b":{"subscription_count":13}}}`,
			wantBody: `{"name":"ev","channels":["presence-a","b"],"data":"d","socket_id":"123.456","info":"user_count,subscription_count"}`,
			want:     map[string]pusher.ChannelInfo{"presence-a": {UserCount: 42}, "b": {SubscriptionCount: 13}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t)
			if tc.resp != "" {
				f.respond("POST /apps/3/events", 200, tc.resp)
			}
			res, err := f.client(nil).TriggerContext(context.Background(), tc.channels, "ev", tc.data, tc.opts)
			if err != nil {
				t.Fatalf("Trigger: %v", err)
			}
			reqs := f.received()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/apps/3/events" {
				t.Fatalf("requests = %+v, want one POST /apps/3/events", reqs)
			}
			if reqs[0].Body != tc.wantBody {
				t.Fatalf("body:\n got %s\nwant %s", reqs[0].Body, tc.wantBody)
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if !reflect.DeepEqual(res.Channels, tc.want) {
				t.Fatalf("Channels = %+v, want %+v", res.Channels, tc.want)
			}
			if tc.resp != "" && string(res.Raw) != tc.resp {
				t.Fatalf("Raw = %s, want %s", res.Raw, tc.resp)
			}
		})
	}
}

func TestTriggerValidation(t *testing.T) {
	t.Parallel()
	many := make([]string, 101)
	for i := range many {
		many[i] = "c"
	}
	tests := []struct {
		name     string
		channels []string
		event    string
		data     any
		opts     *pusher.TriggerOptions
		noKey    bool
		want     error
	}{
		{name: "no channel", channels: nil, event: "e", want: pusher.ErrTooManyChannels},
		{name: "101 channels", channels: many, event: "e", want: pusher.ErrTooManyChannels},
		{name: "bad channel", channels: []string{"a b"}, event: "e", want: pusher.ErrInvalidChannel},
		{name: "long channel", channels: []string{strings.Repeat("a", 201)}, event: "e", want: pusher.ErrInvalidChannel},
		{name: "empty event", channels: []string{"a"}, event: "", want: pusher.ErrInvalidEvent},
		{name: "long event", channels: []string{"a"}, event: strings.Repeat("e", 201), want: pusher.ErrInvalidEvent},
		{name: "data too large", channels: []string{"a"}, event: "e", data: strings.Repeat("x", 10*1024+1), want: pusher.ErrDataTooLarge},
		{name: "encrypted data too large", channels: []string{"private-encrypted-a"}, event: "e", data: strings.Repeat("x", 8*1024), want: pusher.ErrDataTooLarge},
		{name: "bad socket id", channels: []string{"a"}, event: "e", opts: &pusher.TriggerOptions{SocketID: "1.x"}, want: pusher.ErrInvalidSocketID},
		{name: "encrypted among several", channels: []string{"a", "private-encrypted-b"}, event: "e", want: pusher.ErrEncryption},
		{name: "encrypted without master key", channels: []string{"private-encrypted-b"}, event: "e", noKey: true, want: pusher.ErrEncryption},
		{name: "data not encodable", channels: []string{"a"}, event: "e", data: func() {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t)
			c := f.client(func(o *pusher.Options) {
				if tc.noKey {
					o.EncryptionMasterKey = ""
				}
			})
			_, err := c.TriggerContext(context.Background(), tc.channels, tc.event, tc.data, tc.opts)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Trigger error = %v, want %v", err, tc.want)
			}
			if err := c.TriggerAsync(tc.channels, tc.event, tc.data, tc.opts); err == nil {
				t.Fatal("TriggerAsync accepted an invalid trigger")
			}
			if n := len(f.received()); n != 0 {
				t.Fatalf("%d requests sent for an invalid trigger", n)
			}
		})
	}
}

func TestDataLimitOption(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	c := f.client(func(o *pusher.Options) { o.MaxDataBytes = 20 * 1024 })
	if _, err := c.TriggerContext(context.Background(), []string{"a"}, "e", strings.Repeat("x", 15*1024), nil); err != nil {
		t.Fatalf("Trigger with raised limit: %v", err)
	}
}

func TestTriggerBatch(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	f.respond("POST /apps/3/batch_events", 200, `{"batch":[{"subscription_count":2},{}]}`)
	res, err := f.client(nil).TriggerBatchContext(context.Background(), []pusher.Event{
		{Channel: "c1", Name: "e1", Data: "d1", SocketID: ptr("1.2"), Info: ptr("subscription_count")},
		{Channel: "presence-c2", Name: "e2", Data: map[string]bool{"ok": true}},
	})
	if err != nil {
		t.Fatalf("TriggerBatch: %v", err)
	}
	want := `{"batch":[{"channel":"c1","name":"e1","data":"d1","socket_id":"1.2","info":"subscription_count"},{"channel":"presence-c2","name":"e2","data":"{\"ok\":true}"}]}`
	if got := f.received()[0].Body; got != want {
		t.Fatalf("body:\n got %s\nwant %s", got, want)
	}
	if !reflect.DeepEqual(res.Batch, []pusher.TriggerBatchChannelListItem{{SubscriptionCount: ptr(2)}, {}}) {
		t.Fatalf("Batch = %+v", res.Batch)
	}

	for name, events := range map[string][]pusher.Event{
		"empty":      nil,
		"bad name":   {{Channel: "c", Name: ""}},
		"bad chan":   {{Channel: "c c", Name: "e"}},
		"bad socket": {{Channel: "c", Name: "e", SocketID: ptr("x")}},
		"too large":  {{Channel: "c", Name: "e", Data: strings.Repeat("x", 10241)}},
	} {
		if _, err := f.client(nil).TriggerBatchContext(context.Background(), events); err == nil {
			t.Errorf("%s: TriggerBatch succeeded", name)
		}
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	f.respond("GET /apps/3/channels", 200, `{"channels":{"presence-foobar":{"user_count":42}}}`)
	f.respond("GET /apps/3/channels/presence-foobar", 200, `{"occupied":true,"user_count":42}`)
	f.respond("GET /apps/3/channels/cache-x", 200, `{"occupied":true,"subscription_count":3,"cache":{"data":"d","ttl":60}}`)
	f.respond("GET /apps/3/channels/presence-foobar/users", 200, `{"users":[{"id":"1"},{"id":"2"}]}`)
	c := f.client(nil)
	ctx := context.Background()

	list, err := c.ChannelsContext(ctx, pusher.ChannelsParams{FilterByPrefix: ptr("presence-"), Info: ptr("user_count")})
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	if !reflect.DeepEqual(list.Channels, map[string]pusher.ChannelListItem{"presence-foobar": {UserCount: 42}}) {
		t.Fatalf("Channels = %+v", list.Channels)
	}
	ch, err := c.ChannelContext(ctx, "presence-foobar", pusher.ChannelParams{Info: ptr("user_count")})
	if err != nil || !ch.Occupied || ch.UserCount != 42 || ch.Name != "presence-foobar" {
		t.Fatalf("Channel = %+v, %v", ch, err)
	}
	ch, err = c.ChannelContext(ctx, "cache-x", pusher.ChannelParams{Info: ptr("subscription_count,cache")})
	if err != nil || ch.SubscriptionCount != 3 || ch.Cache == nil || *ch.Cache != (pusher.CacheInfo{Data: "d", TTL: 60}) {
		t.Fatalf("Channel(cache-x) = %+v, %v", ch, err)
	}
	users, err := c.GetChannelUsersContext(ctx, "presence-foobar")
	if err != nil || !reflect.DeepEqual(users.List, []pusher.User{{ID: "1"}, {ID: "2"}}) {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if err := c.TerminateUserConnectionsContext(ctx, "user-1"); err != nil {
		t.Fatalf("TerminateUserConnections: %v", err)
	}
	if err := c.SendToUserContext(ctx, "user-1", "hello", "hi"); err != nil {
		t.Fatalf("SendToUser: %v", err)
	}
	if _, err := c.ChannelsContext(ctx, pusher.ChannelsParams{}); err != nil {
		t.Fatalf("Channels(nil): %v", err)
	}
	// Every character allowed in a name survives the path and its signature.
	if _, err := c.ChannelContext(ctx, "private-a_b=c@d,e.f;g", pusher.ChannelParams{}); err != nil {
		t.Fatalf("Channel with unusual characters: %v", err)
	}

	want := []struct{ method, path, query, body string }{
		{"GET", "/apps/3/channels", "filter_by_prefix=presence-&info=user_count", ""},
		{"GET", "/apps/3/channels/presence-foobar", "info=user_count", ""},
		{"GET", "/apps/3/channels/cache-x", "info=subscription_count,cache", ""},
		{"GET", "/apps/3/channels/presence-foobar/users", "", ""},
		{"POST", "/apps/3/users/user-1/terminate_connections", "", "{}"},
		{"POST", "/apps/3/events", "", `{"name":"hello","channels":["#server-to-user-user-1"],"data":"hi"}`},
		{"GET", "/apps/3/channels", "", ""},
		{"GET", "/apps/3/channels/private-a_b=c@d,e.f;g", "", ""},
	}
	reqs := f.received()
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		r := reqs[i]
		if r.Method != w.method || r.Path != w.path || r.Body != w.body {
			t.Errorf("request %d = %s %s %q, want %s %s %q", i, r.Method, r.Path, r.Body, w.method, w.path, w.body)
		}
		if !strings.Contains(r.Query, "auth_signature=") || (w.query != "" && !containsParams(r.Query, w.query)) {
			t.Errorf("request %d query %q lacks %q", i, r.Query, w.query)
		}
	}
}

// containsParams reports whether the raw query has every key=value of want
// (values compared after decoding).
func containsParams(raw, want string) bool {
	got, _ := url.ParseQuery(raw)
	exp, _ := url.ParseQuery(want)
	for k, v := range exp {
		if got.Get(k) != v[0] {
			return false
		}
	}
	return true
}

func TestQueryValidation(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	c := f.client(nil)
	ctx := context.Background()
	if _, err := c.ChannelContext(ctx, "bad name", pusher.ChannelParams{}); !errors.Is(err, pusher.ErrInvalidChannel) {
		t.Errorf("Channel: %v", err)
	}
	if _, err := c.GetChannelUsersContext(ctx, "a/b"); !errors.Is(err, pusher.ErrInvalidChannel) {
		t.Errorf("Users: %v", err)
	}
	if err := c.TerminateUserConnectionsContext(ctx, "a/b"); !errors.Is(err, pusher.ErrInvalidUserID) {
		t.Errorf("TerminateUserConnections: %v", err)
	}
	if err := c.SendToUserContext(ctx, "", "e", "d"); !errors.Is(err, pusher.ErrInvalidUserID) {
		t.Errorf("SendToUser: %v", err)
	}
	if n := len(f.received()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	f.respond("POST /apps/3/events", 403, "Over quota\n")
	f.respond("GET /apps/3/channels", 200, "not json")
	ctx := context.Background()

	_, err := f.client(nil).TriggerContext(ctx, []string{"a"}, "e", "d", nil)
	var he *pusher.HTTPError
	if !errors.As(err, &he) || he.Status != 403 || he.Body != "Over quota" {
		t.Fatalf("Trigger error = %#v, want HTTPError 403", err)
	}
	if _, err := f.client(nil).ChannelsContext(ctx, pusher.ChannelsParams{}); err == nil || errors.As(err, &he) && he.Status != 403 {
		t.Fatalf("non-JSON 200 accepted: %v", err)
	}

	// A wrong secret is caught by the server's signature check.
	_, err = f.client(func(o *pusher.Options) { o.Secret = "wrong" }).ChannelContext(ctx, "a", pusher.ChannelParams{})
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !strings.HasPrefix(he.Body, "Invalid signature") {
		t.Fatalf("wrong secret: %v", err)
	}

	// Transport errors are wrapped, not HTTPError.
	f.srv.Close()
	_, err = f.client(nil).ChannelContext(ctx, "a", pusher.ChannelParams{})
	if err == nil || errors.As(err, &he) {
		t.Fatalf("closed server: %v", err)
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	// The result types marshal back to the wire shape (the CLI relies on Raw,
	// but users may log results).
	b, err := json.Marshal(pusher.Channel{Occupied: true, UserCount: 2})
	if err != nil || string(b) != `{"occupied":true,"user_count":2}` {
		t.Fatalf("Channel JSON = %s, %v", b, err)
	}
}

// ptr returns a pointer to v, for the optional fields of the official API.
func ptr[T any](v T) *T { return &v }
