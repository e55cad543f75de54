package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// historyEngines runs f against a server with the in-memory engine (REST on
// the event loops) and one with the Redis engine (REST through net/http).
func historyEngines(t *testing.T, edit func(*apps.Settings), f func(t *testing.T, s *pixiutest.Server)) {
	for _, engine := range []string{"memory", "redis"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := pixiutest.Start(t, func(c *config.Config) {
				if engine == "redis" {
					c.Cluster.Redis = "redis://127.0.0.1:6379/0"
					c.Cluster.KeyPrefix = "pixiu-history-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
				}
				c.Apps[0].History.Channels = []string{"hist-", "private-hist-"}
				if edit != nil {
					edit(&c.Apps[0].Settings)
				}
			})
			if engine == "redis" { // wait for the engine
				r := s.REST()
				pixiutest.WaitFor(t, 10*time.Second, func() error {
					if st, body := r.Do(t, "POST", "/apps/"+r.ID+"/events", "", map[string]any{"name": "up",
						"channels": []string{"up"}, "data": ""}); st != 200 {
						return fmt.Errorf("%d %s", st, body)
					}
					return nil
				})
			}
			f(t, s)
		})
	}
}

type restHistory struct {
	Events []struct {
		ID, Event, Data string
		UserID          string `json:"user_id"`
	} `json:"events"`
	More  bool   `json:"more"`
	Error string `json:"error"`
}

func getHistory(t *testing.T, r *pixiutest.REST, channel, query string) (int, restHistory) {
	t.Helper()
	st, body := r.Do(t, "GET", "/apps/"+r.ID+"/channels/"+channel+"/history", query, nil)
	var h restHistory
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("history body %q: %v", body, err)
	}
	return st, h
}

// TestHistoryREST: ids on the wire, the REST read with limit and since, and
// its errors.
func TestHistoryREST(t *testing.T) {
	t.Parallel()
	historyEngines(t, func(s *apps.Settings) { s.History.MaxEvents = 5 }, func(t *testing.T, s *pixiutest.Server) {
		sub := pixiutest.Dial(t, s.Addr, "app-key")
		sub.Subscribe("hist-a", "", "", "")
		sub.Subscribe("plain", "", "", "")
		r := s.REST()
		var ids []string
		for i := range 7 {
			r.Trigger(t, []string{"hist-a", "plain"}, "tick", fmt.Sprint(i))
			for range 2 {
				e := sub.Expect("tick")
				switch e.Channel {
				case "hist-a":
					if e.ID == "" {
						t.Fatalf("event %d on hist-a has no id", i)
					}
					ids = append(ids, e.ID)
				case "plain":
					if e.ID != "" {
						t.Fatalf("event on a channel without history has id %q", e.ID)
					}
				}
			}
		}
		st, h := getHistory(t, r, "hist-a", "limit=3")
		if st != 200 || len(h.Events) != 3 || h.Events[0].ID != ids[4] || h.Events[2].Data != "6" || h.More {
			t.Fatalf("limit=3: %d %+v, want the newest 3 (%v)", st, h, ids[4:])
		}
		st, h = getHistory(t, r, "hist-a", "")
		if st != 200 || len(h.Events) != 5 || h.Events[0].ID != ids[2] {
			t.Fatalf("all: %d %+v, want the 5 kept from %s", st, h, ids[2])
		}
		st, h = getHistory(t, r, "hist-a", "since="+url.QueryEscape(ids[3])+"&limit=2")
		if st != 200 || len(h.Events) != 2 || h.Events[0].ID != ids[4] || !h.More {
			t.Fatalf("since %s limit 2: %d %+v", ids[3], st, h)
		}
		for _, tc := range []struct {
			channel, query string
			status         int
			msg            string
		}{
			{"hist-a", "since=" + ids[0], 410, "no longer in the history"},
			{"hist-a", "since=nope", 400, "since must be an event id"},
			{"hist-a", "limit=0", 400, "limit must be"},
			{"hist-a", "limit=101", 400, "limit must be"},
			{"hist-a", "limit=x", 400, "limit must be"},
			{"plain", "", 404, "History is off for channel 'plain'"},
			{"bad%20name", "", 400, "Invalid channel name"},
		} {
			st, h := getHistory(t, r, tc.channel, tc.query)
			if st != tc.status || !strings.Contains(h.Error, tc.msg) {
				t.Errorf("%s?%s: %d %q, want %d %q", tc.channel, tc.query, st, h.Error, tc.status, tc.msg)
			}
		}
		bad := *r
		bad.Secret = "wrong"
		if st, _ := bad.Do(t, "GET", "/apps/"+r.ID+"/channels/hist-a/history", "", nil); st != 401 {
			t.Fatalf("bad signature: %d, want 401", st)
		}
	})
}

// TestHistoryRecover: pixiu:recover replays the events after since in
// order with their ids, skips the client's own (socket_id) publications,
// answers only on subscribed channels, and fails clearly when since is gone.
func TestHistoryRecover(t *testing.T) {
	t.Parallel()
	historyEngines(t, func(s *apps.Settings) { s.History.MaxEvents = 10 }, func(t *testing.T, s *pixiutest.Server) {
		r := s.REST()
		first := pixiutest.Dial(t, s.Addr, "app-key")
		first.Subscribe("hist-r", "", "", "")
		r.Trigger(t, []string{"hist-r"}, "e", "0")
		since := first.Expect("e").ID
		first.CloseWith(1000)
		// While away: three events, one of them published by the old
		// socket itself (socket_id), which it must not get back.
		r.Trigger(t, []string{"hist-r"}, "e", "1")
		st, body := r.Do(t, "POST", "/apps/"+r.ID+"/events", "", map[string]any{"name": "e", "channels": []string{"hist-r"},
			"data": "mine", "socket_id": first.SocketID})
		if st != 200 {
			t.Fatalf("publish: %d %s", st, body)
		}
		r.Trigger(t, []string{"hist-r"}, "e", "2")

		c := pixiutest.Dial(t, s.Addr, "app-key")
		c.Send("pixiu:recover", "hist-r", map[string]any{"since": since})
		if e := c.Expect("pusher:error"); !strings.Contains(e.DataString(), "not subscribed") {
			t.Fatalf("recover before subscribing: %s", e.Data)
		}
		c.Subscribe("hist-r", "", "", "")
		c.Send("pixiu:recover", "hist-r", map[string]any{"since": since, "exclude": []string{first.SocketID}})
		var got []string
		var last string
		for {
			e := c.Next()
			if e.Event == "pixiu:recovered" {
				var d struct{ Since, LastID string }
				_ = json.Unmarshal([]byte(e.DataString()), &struct {
					Since  *string `json:"since"`
					LastID *string `json:"last_id"`
				}{&d.Since, &d.LastID})
				if d.Since != since || d.LastID != last {
					t.Fatalf("recovered %s, want since %s last_id %s", e.DataString(), since, last)
				}
				break
			}
			if strings.HasPrefix(e.Event, "pusher_internal:") {
				continue
			}
			if e.Event != "e" || e.Channel != "hist-r" || e.ID == "" {
				t.Fatalf("replay frame %+v", e)
			}
			got, last = append(got, e.DataString()), e.ID
		}
		if strings.Join(got, ",") != "1,2" {
			t.Fatalf("replayed %v, want 1,2 (in order, without the old socket's own event)", got)
		}
		// Position only, then a since that is gone, then bad requests.
		c.Send("pixiu:recover", "hist-r", map[string]any{"since": ""})
		if e := c.Expect("pixiu:recovered"); !strings.Contains(e.DataString(), `"last_id":"`+last+`"`) {
			t.Fatalf("position: %s, want last_id %s", e.DataString(), last)
		}
		c.Send("pixiu:recover", "hist-r", map[string]any{"since": "1-0"})
		if e := c.Expect("pixiu:recovery_failed"); e.Channel != "hist-r" || !strings.Contains(e.DataString(), `"reason":"gone"`) {
			t.Fatalf("gone: %+v", e)
		}
		c.Subscribe("plain", "", "", "")
		c.Send("pixiu:recover", "plain", map[string]any{"since": since})
		if e := c.Expect("pixiu:recovery_failed"); !strings.Contains(e.DataString(), `"reason":"history_off"`) {
			t.Fatalf("history off: %s", e.DataString())
		}
		c.Send("pixiu:recover", "hist-r", map[string]any{"since": "x"})
		if e := c.Expect("pusher:error"); !strings.Contains(e.DataString(), "since must be") {
			t.Fatalf("bad since: %s", e.Data)
		}
	})
}

// TestHistoryRecoverPrivate: a private channel recovers only for a socket
// that subscribed with a valid signature.
func TestHistoryRecoverPrivate(t *testing.T) {
	t.Parallel()
	historyEngines(t, nil, func(t *testing.T, s *pixiutest.Server) {
		r := s.REST()
		r.Trigger(t, []string{"private-hist-x"}, "secret", "s1")
		c := pixiutest.Dial(t, s.Addr, "app-key")
		c.Send("pusher:subscribe", "", map[string]any{"channel": "private-hist-x", "auth": "app-key:forged"})
		c.Expect("pusher:subscription_error")
		c.Send("pixiu:recover", "private-hist-x", map[string]any{"since": "0-0"})
		if e := c.Expect("pusher:error"); !strings.Contains(e.DataString(), "not subscribed") {
			t.Fatalf("unauthorized recover: %s", e.Data)
		}
		c.Subscribe("private-hist-x", "app-key", "app-secret", "")
		c.Send("pixiu:recover", "private-hist-x", map[string]any{"since": "0-0"})
		if e := c.Expect("secret"); e.DataString() != "s1" || e.ID == "" {
			t.Fatalf("authorized recover: %+v", e)
		}
		c.Expect("pixiu:recovered")
	})
}

// TestHistoryMetrics: appends and what the in-memory engine keeps are in
// /metrics; a channel past limits.history_max_bytes drops the least
// recently published channel's history.
func TestHistoryMetrics(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Apps[0].History.Channels = []string{"hist-"}
		c.Limits.HistoryMaxBytes = 4096
	})
	r := s.REST()
	r.Trigger(t, []string{"hist-old"}, "e", "x")
	r.Trigger(t, []string{"plain"}, "e", "x")
	m := expectMetrics(t, s.Addr, map[string]float64{"pixiu_history_appended_total": 1, "pixiu_history_events": 1,
		"pixiu_history_channels": 1, "pixiu_history_dropped_total": 0})
	if m["pixiu_history_bytes"] <= 0 {
		t.Fatalf("pixiu_history_bytes = %v", m["pixiu_history_bytes"])
	}
	big := strings.Repeat("b", 1500)
	for range 3 {
		r.Trigger(t, []string{"hist-new"}, "e", big)
	}
	m = expectMetrics(t, s.Addr, map[string]float64{"pixiu_history_appended_total": 4, "pixiu_history_channels": 1})
	if m["pixiu_history_bytes"] > 4096 || m["pixiu_history_dropped_total"] < 2 {
		t.Fatalf("bound not kept: %v bytes, %v dropped", m["pixiu_history_bytes"], m["pixiu_history_dropped_total"])
	}
	if st, _ := getHistory(t, r, "hist-old", ""); st != 200 {
		t.Fatalf("dropped channel: %d", st)
	}
	if _, h := getHistory(t, r, "hist-old", ""); len(h.Events) != 0 {
		t.Fatalf("hist-old still keeps %d events past the bound", len(h.Events))
	}
}

// TestRecoveryScriptServed: /pixiu/recovery.js is the embedded script.
func TestRecoveryScriptServed(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	resp, err := http.Get("http://" + s.Addr + "/pixiu/recovery.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(b), "PixiuRecovery") || len(b) > 8<<10 {
		t.Fatalf("GET /pixiu/recovery.js: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
}
