package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// TestSigninRefusesMalformedUserData: pusher:signin whose user_data is not
// a JSON string, not a JSON object with a string id, or whose user_info is
// over 1 KB (presence channel_data's limit) gets pusher:error, even when
// signed, and the connection stays usable (protocol.md §3.10).
func TestSigninRefusesMalformedUserData(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	signin := func(signed string, userData any) {
		c.Send("pusher:signin", "", map[string]any{"auth": signature.UserAuth("app-key", "app-secret", c.SocketID, signed), "user_data": userData})
	}
	bigInfo := `{"id":"u1","user_info":{"name":"` + strings.Repeat("a", 1100) + `"}}`
	cases := []struct {
		name     string
		signed   string
		userData any
		want     string
	}{
		{"object", `{"id":"u1"}`, json.RawMessage(`{"id":"u1"}`), "must be a JSON string"},
		{"number", `5`, json.RawMessage(`5`), "must be a JSON string"},
		{"array in a string", `["u1"]`, `["u1"]`, `with a string \"id\"`},
		{"number id", `{"id":1}`, `{"id":1}`, `with a string \"id\"`},
		{"no id", `{"user_info":{}}`, `{"user_info":{}}`, `with a string \"id\"`},
		{"user_info over 1 KB", bigInfo, bigInfo, "larger than 1 KB"},
	}
	for _, tc := range cases {
		signin(tc.signed, tc.userData)
		e := c.Next()
		if e.Event != "pusher:error" || !strings.Contains(string(e.Data), tc.want) {
			t.Fatalf("%s: got %s %s, want pusher:error with %q", tc.name, e.Event, e.Data, tc.want)
		}
	}
	// A user_info of exactly 1 KB, compacted, is fine.
	info := `{"n":"` + strings.Repeat("a", 1024-8) + `"}`
	ok := `{"id":"u1","user_info":` + info + `}`
	signin(ok, ok)
	if e := c.Next(); e.Event != "pusher:signin_success" {
		t.Fatalf("valid signin: %s %s", e.Event, e.Data)
	}
	// Presence without channel_data takes the signed-in user's info.
	sig := signature.ChannelAuth("app-key", "app-secret", c.SocketID, "presence-room", "")
	c.Send("pusher:subscribe", "", map[string]any{"channel": "presence-room", "auth": sig})
	if e := c.Expect("pusher_internal:subscription_succeeded"); !strings.Contains(e.DataString(), `"u1"`) {
		t.Fatalf("presence: %s", e.Data)
	}
}
