package server_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

func TestConnectionEstablished(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.DialRaw(t, "ws://"+s.Addr+"/app/app-key?protocol=7")
	e := c.Next()
	if e.Event != "pusher:connection_established" {
		t.Fatalf("got %s", e.Event)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal([]byte(e.DataString()), &d); err != nil {
		t.Fatalf("data must be a JSON string holding an object: %s (%v)", e.Data, err)
	}
	if !regexp.MustCompile(`^\d+\.\d+$`).MatchString(d.SocketID) || d.ActivityTimeout != 120 {
		t.Fatalf("bad data %+v", d)
	}
	c.Send("pusher:ping", "", map[string]any{})
	if e := c.Next(); e.Event != "pusher:pong" {
		t.Fatalf("ping answered with %s", e.Event)
	}
}

func TestHandshakeErrors(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Apps = append(c.Apps, pixiutest.App("off", "off-key", "s", func(s *apps.Settings) { s.Enabled = false }),
			pixiutest.App("small", "small-key", "s", func(s *apps.Settings) { s.MaxConnections = 1 }))
	})
	cases := []struct {
		name, path string
		code       int
	}{
		{"unknown key", "/app/nope?protocol=7", 4001},
		{"disabled app", "/app/off-key?protocol=7", 4003},
		{"bad path", "/foo/bar?protocol=7", 4005},
		{"bad version", "/app/app-key?protocol=abc", 4006},
		{"old protocol", "/app/app-key?protocol=3", 4007},
		{"no protocol", "/app/app-key", 4008},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := pixiutest.DialRaw(t, "ws://"+s.Addr+tc.path)
			e := c.Next()
			if e.Event != "pusher:error" {
				t.Fatalf("got %s", e.Event)
			}
			var d struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil || d.Code != tc.code || d.Message == "" {
				t.Fatalf("pusher:error data must be an object with code %d: %s", tc.code, e.Data)
			}
			if got := c.WaitClosed(); got != tc.code {
				t.Fatalf("close code %d, want %d", got, tc.code)
			}
		})
	}
	t.Run("over quota", func(t *testing.T) {
		pixiutest.Dial(t, s.Addr, "small-key")
		c := pixiutest.DialRaw(t, "ws://"+s.Addr+"/app/small-key?protocol=7")
		c.Expect("pusher:error")
		if got := c.WaitClosed(); got != 4004 {
			t.Fatalf("close code %d, want 4004", got)
		}
	})
}

func TestPublicChannelTriggerAndExclusion(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	a := pixiutest.Dial(t, s.Addr, "app-key")
	b := pixiutest.Dial(t, s.Addr, "app-key")
	if e := a.Subscribe("price_channel", "", "", ""); string(e.Data) != `"{}"` {
		t.Fatalf("subscription_succeeded data = %s, want \"{}\"", e.Data)
	}
	b.Subscribe("price_channel", "", "", "")
	rest := s.REST()
	rest.Trigger(t, []string{"price_channel"}, "update", `{"price":42}`)
	for _, c := range []*pixiutest.Client{a, b} {
		e := c.Expect("update")
		if e.Channel != "price_channel" || e.DataString() != `{"price":42}` {
			t.Fatalf("got %+v", e)
		}
	}
	st, body := rest.Do(t, "POST", "/apps/app-id/events", "", map[string]any{
		"name": "update", "channels": []string{"price_channel"}, "data": "x", "socket_id": a.SocketID})
	if st != 200 || body != "{}" {
		t.Fatalf("%d %s", st, body)
	}
	if e := b.Expect("update"); e.DataString() != "x" {
		t.Fatalf("got %+v", e)
	}
	a.Quiet("update", 200*time.Millisecond)
}

func TestPrivateChannelAuth(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Send("pusher:subscribe", "", map[string]any{"channel": "private-a", "auth": "app-key:deadbeef"})
	e := c.Expect("pusher:error")
	if !strings.Contains(string(e.Data), "Invalid signature") {
		t.Fatalf("got %s", e.Data)
	}
	se := c.Expect("pusher:subscription_error")
	if se.Channel != "private-a" || !strings.Contains(se.DataString(), `"status":401`) {
		t.Fatalf("got %+v", se)
	}
	c.Subscribe("private-a", "app-key", "app-secret", "") // connection still usable
}

func TestPresenceMembers(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	ch := "presence-room"
	u1 := `{"user_id":"1","user_info":{"name":"A"}}`
	a1 := pixiutest.Dial(t, s.Addr, "app-key")
	a1.Subscribe(ch, "app-key", "app-secret", u1)
	b := pixiutest.Dial(t, s.Addr, "app-key")
	e := b.Subscribe(ch, "app-key", "app-secret", `{"user_id":2}`)
	var d struct {
		Presence struct {
			IDs   []string                   `json:"ids"`
			Hash  map[string]json.RawMessage `json:"hash"`
			Count int                        `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal([]byte(e.DataString()), &d); err != nil {
		t.Fatal(err)
	}
	if d.Presence.Count != 2 || len(d.Presence.IDs) != 2 || string(d.Presence.Hash["1"]) != `{"name":"A"}` {
		t.Fatalf("presence data %s", e.DataString())
	}
	if e := a1.Expect("pusher_internal:member_added"); e.DataString() != `{"user_id":"2","user_info":null}` {
		t.Fatalf("member_added %s", e.DataString())
	}
	// A second socket of user 1: no member_added for b.
	a2 := pixiutest.Dial(t, s.Addr, "app-key")
	a2.Subscribe(ch, "app-key", "app-secret", u1)
	b.Quiet("pusher_internal:member_added", 150*time.Millisecond)
	a2.Send("pusher:unsubscribe", "", map[string]any{"channel": ch})
	b.Quiet("pusher_internal:member_removed", 150*time.Millisecond)
	st, body := s.REST().Do(t, "GET", "/apps/app-id/channels/"+ch+"/users", "", nil)
	if st != 200 || body != `{"users":[{"id":"1"},{"id":"2"}]}` {
		t.Fatalf("users: %d %s", st, body)
	}
	_ = a1.WaitClosedAfter(t)
	if e := b.Expect("pusher_internal:member_removed"); e.DataString() != `{"user_id":"1"}` {
		t.Fatalf("member_removed %s", e.DataString())
	}
}

func TestClientEvents(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Apps[0].MaxClientEventsPerSecond = 3 })
	ch := "presence-chat"
	a := pixiutest.Dial(t, s.Addr, "app-key")
	a.Subscribe(ch, "app-key", "app-secret", `{"user_id":"alice"}`)
	b := pixiutest.Dial(t, s.Addr, "app-key")
	b.Subscribe(ch, "app-key", "app-secret", `{"user_id":"bob"}`)
	a.Send("client-typing", ch, map[string]any{"x": 1})
	e := b.Expect("client-typing")
	if e.UserID != "alice" || e.DataString() != `{"x":1}` || string(e.Data) != `"{\"x\":1}"` {
		t.Fatalf("got %+v", e)
	}
	a.Quiet("client-typing", 100*time.Millisecond)
	// 10 events in a burst span at most two one-second windows of 3, so at
	// least 4 are refused however the burst falls on the clock.
	for i := 0; i < 10; i++ {
		a.Send("client-typing", ch, "x")
	}
	er := a.Expect("pusher:error")
	if !strings.Contains(string(er.Data), `"code":4301`) {
		t.Fatalf("rate limit error %s", er.Data)
	}
	p := pixiutest.Dial(t, s.Addr, "app-key")
	p.Subscribe("public", "", "", "")
	p.Send("client-x", "public", "x")
	if er := p.Expect("pusher:error"); !strings.Contains(string(er.Data), "private and presence") {
		t.Fatalf("got %s", er.Data)
	}
}

func TestRESTValidation(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	r := s.REST()
	big := strings.Repeat("x", 10*1024+1)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("c", i)
	}
	cases := []struct {
		name string
		body map[string]any
		want int
	}{
		{"too big", map[string]any{"name": "e", "channels": []string{"a"}, "data": big}, 413},
		{"too many channels", map[string]any{"name": "e", "channels": many, "data": "x"}, 400},
		{"reserved name", map[string]any{"name": "pusher:x", "channels": []string{"a"}, "data": "x"}, 400},
		{"bad channel", map[string]any{"name": "e", "channels": []string{"a b"}, "data": "x"}, 400},
		{"no data", map[string]any{"name": "e", "channels": []string{"a"}}, 400},
	}
	for _, tc := range cases {
		if st, body := r.Do(t, "POST", "/apps/app-id/events", "", tc.body); st != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, st, body, tc.want)
		}
	}
	bad := *r
	bad.Secret = "wrong"
	if st, _ := bad.Do(t, "POST", "/apps/app-id/events", "", cases[3].body); st != 401 {
		t.Errorf("bad signature: %d", st)
	}
	if st, _ := r.Do(t, "GET", "/apps/nope/channels", "", nil); st != 404 {
		t.Errorf("unknown app: %d", st)
	}
	q := signature.SignRequest("app-key", "app-secret", "GET", "/apps/app-id/channels", nil, nil, time.Now().Add(-time.Hour))
	_ = q
	batch := map[string]any{"batch": []map[string]any{{"channel": "a", "name": "e", "data": "1"}, {"channel": "b", "name": "e", "data": "2"}}}
	if st, body := r.Do(t, "POST", "/apps/app-id/batch_events", "", batch); st != 200 || body != "{}" {
		t.Errorf("batch: %d %s", st, body)
	}
}

// TestRESTLimitMessages: refusals name the configured limits, not the
// defaults.
func TestRESTLimitMessages(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Limits.MaxEventBytes, c.Limits.MaxEventNameLen, c.Limits.MaxChannelsPerPub, c.Limits.MaxBatchEvents = 2048, 20, 3, 2
	})
	r := s.REST()
	one := []string{"a"}
	cases := []struct {
		name   string
		path   string
		body   map[string]any
		status int
		text   string
	}{
		{"data", "events", map[string]any{"name": "e", "channels": one, "data": strings.Repeat("x", 2049)}, 413, "the limit is 2 KB (2048 bytes)"},
		{"name", "events", map[string]any{"name": strings.Repeat("e", 21), "channels": one, "data": "x"}, 400, "the limit is 20 bytes"},
		{"channels", "events", map[string]any{"name": "e", "channels": []string{"a", "b", "c", "d"}, "data": "x"}, 400, "the limit is 3 per event"},
		{"batch", "batch_events", map[string]any{"batch": []map[string]any{{"channel": "a", "name": "e", "data": "1"},
			{"channel": "a", "name": "e", "data": "2"}, {"channel": "a", "name": "e", "data": "3"}}}, 400, "the limit is 2 events"},
	}
	for _, tc := range cases {
		if st, body := r.Do(t, "POST", "/apps/app-id/"+tc.path, "", tc.body); st != tc.status || !strings.Contains(body, tc.text) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, st, body, tc.status, tc.text)
		}
	}
}

func TestChannelQueriesAndCache(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	r := s.REST()
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.Subscribe("cache-prices", "", "", "")
	c.Expect("pusher:cache_miss")
	r.Trigger(t, []string{"cache-prices"}, "update", "7")
	c.Expect("update")
	d := pixiutest.Dial(t, s.Addr, "app-key")
	d.Subscribe("cache-prices", "", "", "")
	if e := d.Expect("update"); e.DataString() != "7" {
		t.Fatalf("cached event %+v", e)
	}
	st, body := r.Do(t, "GET", "/apps/app-id/channels/cache-prices", "info=subscription_count", nil)
	if st != 200 || body != `{"occupied":true,"subscription_count":2}` {
		t.Fatalf("channel: %d %s", st, body)
	}
	st, body = r.Do(t, "GET", "/apps/app-id/channels", "", nil)
	if st != 200 || body != `{"channels":{"cache-prices":{}}}` {
		t.Fatalf("channels: %d %s", st, body)
	}
	if st, _ := r.Do(t, "GET", "/apps/app-id/channels", "info=user_count", nil); st != 400 {
		t.Fatalf("user_count without presence prefix: %d", st)
	}
}

func TestSigninAndTerminate(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	ud := `{"id":"u1","watchlist":["u2"]}`
	c.Send("pusher:signin", "", map[string]any{"auth": signature.UserAuth("app-key", "app-secret", c.SocketID, ud), "user_data": ud})
	e := c.Expect("pusher:signin_success")
	if !strings.Contains(e.DataString(), `"user_data"`) {
		t.Fatalf("signin_success %s", e.Data)
	}
	c.Subscribe("#server-to-user-u1", "", "", "")
	r := s.REST()
	r.Trigger(t, []string{"#server-to-user-u1"}, "hello", "hi")
	if e := c.Expect("hello"); e.DataString() != "hi" {
		t.Fatalf("%+v", e)
	}
	w := pixiutest.Dial(t, s.Addr, "app-key")
	ud2 := `{"id":"u2"}`
	w.Send("pusher:signin", "", map[string]any{"auth": signature.UserAuth("app-key", "app-secret", w.SocketID, ud2), "user_data": ud2})
	if e := c.Expect("pusher_internal:watchlist_events"); !strings.Contains(e.DataString(), `"online"`) {
		t.Fatalf("watchlist %s", e.Data)
	}
	if st, body := r.Do(t, "POST", "/apps/app-id/users/u1/terminate_connections", "", map[string]any{}); st != 200 {
		t.Fatalf("terminate %d %s", st, body)
	}
	if code := c.WaitClosed(); code != 4009 {
		t.Fatalf("close code %d", code)
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	c := pixiutest.Dial(t, s.Addr, "app-key")
	c.SendRaw([]byte("not json"))
	c.Expect("pusher:error")
	c.Send("pusher:nope", "", nil)
	if e := c.Expect("pusher:error"); !strings.Contains(string(e.Data), "Unsupported event") {
		t.Fatalf("%s", e.Data)
	}
	c.SendRaw([]byte(`{"event":"x","data":"` + strings.Repeat("a", 1<<20) + `"}`))
	if e := c.Expect("pusher:error"); !strings.Contains(string(e.Data), "too large") {
		t.Fatalf("%s", e.Data)
	}
	c.Subscribe("still-works", "", "", "")
	s.REST().Trigger(t, []string{"still-works"}, "e", "1")
	c.Expect("e")
}

// TestClientEventNameLimit: a client event's name is held to the configured
// limits.max_event_name_len, and the error names that limit.
func TestClientEventNameLimit(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { c.Limits.MaxEventNameLen = 20 })
	ch := "private-names"
	a := pixiutest.Dial(t, s.Addr, "app-key")
	a.Subscribe(ch, "app-key", "app-secret", "")
	b := pixiutest.Dial(t, s.Addr, "app-key")
	b.Subscribe(ch, "app-key", "app-secret", "")
	a.Send("client-"+strings.Repeat("x", 14), ch, "x") // 21 bytes
	if er := a.Expect("pusher:error"); !strings.Contains(string(er.Data), "longer than 20 bytes") {
		t.Fatalf("got %s", er.Data)
	}
	a.Send("client-"+strings.Repeat("y", 13), ch, "x") // 20 bytes
	if e := b.Expect("client-" + strings.Repeat("y", 13)); e.DataString() != "x" {
		t.Fatalf("got %+v", e)
	}
}
