package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		want Channel
	}{
		{"my-channel", Channel{Kind: Public}},
		{"cache-prices", Channel{Kind: Public, Cache: true}},
		{"private-a", Channel{Kind: Private}},
		{"private-cache-a", Channel{Kind: Private, Cache: true}},
		{"private-encrypted-a", Channel{Kind: Encrypted}},
		{"private-encrypted-cache-a", Channel{Kind: Encrypted, Cache: true}},
		{"presence-a", Channel{Kind: Presence}},
		{"presence-cache-a", Channel{Kind: Presence, Cache: true}},
		{"#server-to-user-42", Channel{Kind: ServerToUser}},
	}
	for _, tc := range cases {
		if got := ParseChannel(tc.name); got != tc.want {
			t.Errorf("ParseChannel(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestValidChannelName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"private-A_z0-9=@,.;", true},
		{"", false},
		{"has space", false},
		{"hash#", false},
		{"#server-to-user-1", true},
		{"#server-to-user-", false},
		{"#other", false},
		{"ünicode", false},
		{strings.Repeat("a", 200), true},
		{strings.Repeat("a", 201), false},
	}
	for _, tc := range cases {
		if got := ValidChannelName(tc.name, 200); got != tc.ok {
			t.Errorf("ValidChannelName(%q) = %v", tc.name, got)
		}
	}
}

func TestValidSocketID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{"1.2": true, "123.456": true, "1677674.4468990": true,
		"": false, ".1": false, "1.": false, "1.2.3": false, "a.1": false, "12": false} {
		if ValidSocketID(id) != ok {
			t.Errorf("ValidSocketID(%q) != %v", id, ok)
		}
	}
}

func TestAppendEventIsValidJSONWithStringData(t *testing.T) {
	t.Parallel()
	data := "{\"price\":\"1\\u00e9\"}\n\t\x01<\u2028>"
	b := AppendEvent(nil, "update", "price_channel", data, "u1")
	var got struct {
		Event, Channel, Data string
		UserID               string `json:"user_id"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.Event != "update" || got.Channel != "price_channel" || got.Data != data || got.UserID != "u1" {
		t.Fatalf("round trip: %+v", got)
	}
	if s := string(AppendEvent(nil, "e", "", "d", "")); s != `{"event":"e","data":"d"}` {
		t.Fatalf("no channel/user: %s", s)
	}
	if s := string(AppendString(nil, "\xff")); s != `"\ufffd"` {
		t.Fatalf("invalid utf-8: %s", s)
	}
}

func TestAppendError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		e    *Error
		want string
	}{
		{&Error{Code: 4001, Message: "x"}, `{"event":"pusher:error","data":{"code":4001,"message":"x"}}`},
		{&Error{Message: "Existing subscription"}, `{"event":"pusher:error","data":{"code":null,"message":"Existing subscription"}}`},
	}
	for _, tc := range cases {
		if got := string(AppendError(nil, tc.e)); got != tc.want {
			t.Errorf("got %s want %s", got, tc.want)
		}
	}
}

func TestPresenceData(t *testing.T) {
	t.Parallel()
	got := PresenceData([]Member{{UserID: "1", UserInfo: []byte(`{"name":"A"}`)}, {UserID: "2"}})
	want := `{"presence":{"ids":["1","2"],"hash":{"1":{"name":"A"},"2":null},"count":2}}`
	if got != want {
		t.Fatalf("got %s", got)
	}
	if got := MemberAddedData(Member{UserID: "3", UserInfo: []byte(`{}`)}); got != `{"user_id":"3","user_info":{}}` {
		t.Fatalf("member_added %s", got)
	}
	if got := MemberRemovedData("3"); got != `{"user_id":"3"}` {
		t.Fatalf("member_removed %s", got)
	}
	if got := WatchlistData("online", []string{"a", "b"}); got != `{"events":[{"name":"online","user_ids":["a","b"]}]}` {
		t.Fatalf("watchlist %s", got)
	}
}

func TestDecodeClientMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		ok      bool
		dataStr string
	}{
		{`{"event":"pusher:ping","data":{}}`, true, "{}"},
		{`{"event":"pusher:ping"}`, true, ""},
		{`{"event":"client-x","channel":"private-a","data":"str"}`, true, "str"},
		{`{"event":"client-x","data":{"x":1}}`, true, `{"x":1}`},
		{`{"data":{}}`, false, ""},
		{`not json`, false, ""},
		{`{"event":5}`, false, ""},
		{`[]`, false, ""},
	}
	for _, tc := range cases {
		m, err := DecodeClientMessage([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if tc.ok && DataString(m.Data) != tc.dataStr {
			t.Errorf("%s: data %q", tc.in, DataString(m.Data))
		}
	}
}

func TestDecodeSubscribeAndChannelData(t *testing.T) {
	t.Parallel()
	s, err := DecodeSubscribe([]byte(`{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}"}`))
	if err != nil || !s.HasData || s.Channel != "presence-a" {
		t.Fatalf("%+v %v", s, err)
	}
	m, err := DecodeChannelData(s.ChannelData)
	if err != nil || m.UserID != "10" || string(m.UserInfo) != `{"name":"Mr. Channels"}` {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{`{}`, `{"user_id":""}`, `{"user_id":true}`, `nope`, `{"user_id":"` + strings.Repeat("x", 129) + `"}`} {
		if _, err := DecodeChannelData(bad); err == nil {
			t.Errorf("DecodeChannelData(%s) accepted", bad)
		}
	}
	if _, err := DecodeSubscribe([]byte(`{"auth":""}`)); err == nil {
		t.Error("subscribe without channel accepted")
	}
	if u, err := DecodeUserData(`{"id":"12345","watchlist":["a",2]}`); err != nil || u.ID != "12345" || len(u.Watchlist) != 2 {
		t.Errorf("user data %+v %v", u, err)
	}
	if _, err := DecodeUserData(`{"id":12345}`); err == nil {
		t.Error("numeric user id accepted for sign-in")
	}
}

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{`{"event":"pusher:subscribe","data":{"channel":"a"}}`, `{"event":"client-x","data":"x"}`,
		`{"event":"pusher:signin","data":{"auth":"a","user_data":"{\"id\":\"1\"}"}}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMessage(b)
		if err != nil {
			return
		}
		_ = DataString(m.Data)
		_, _ = DecodeSubscribe(m.Data)
		_, _ = DecodeSignin(m.Data)
		// Anything we re-encode must be valid JSON.
		out := AppendEvent(nil, m.Event, m.Channel, DataString(m.Data), "")
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}

func FuzzChannelName(f *testing.F) {
	for _, s := range []string{"a", "private-x", "#server-to-user-1", "presence-cache-x", "bad name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidChannelName(s, 200) {
			if len(s) > 200 || len(s) == 0 {
				t.Fatalf("accepted length %d", len(s))
			}
			if strings.ContainsAny(s, " \"\\/") {
				t.Fatalf("accepted %q", s)
			}
		}
		_ = ParseChannel(s)
	})
}
