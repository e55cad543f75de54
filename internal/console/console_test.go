package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/store"
	"github.com/pixiu-io/pixiu/internal/usage"
)

const password = "correct horse battery staple"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a console on a real SQLite store, hub and usage counter, served
// by an httptest server; the registry holds one read-only config app and
// whatever the store holds.
type fixture struct {
	t       *testing.T
	c       *Console
	srv     *httptest.Server
	store   *store.Store
	apps    *apps.Registry
	hub     *hub.Hub
	usage   *usage.Counter
	tap     *Tap
	clock   *clock
	reloads atomic.Int32
	logs    *logBuffer
}

var configApp = &apps.App{ID: "cfg", Key: "cfg-key", Secret: "cfg-secret", ReadOnly: true, Settings: apps.Settings{Name: "From config", Enabled: true}}

func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, clock: &clock{t: time.Now()}, logs: &logBuffer{}}
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f.store = st
	f.apps = apps.NewRegistry([]*apps.App{configApp})
	f.tap = NewTap()
	f.usage, err = usage.New(ctx, usage.Options{Store: st, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.usage.Close() })
	f.hub, err = hub.New(hub.Options{Observer: f.tap, OnDeliver: func(appID string, n int) { f.usage.Add(appID, int64(n)) },
		History: func(appID, channel string) cluster.HistoryPolicy { // as the server's
			a, err := f.apps.ByID(appID)
			if err != nil {
				return cluster.HistoryPolicy{}
			}
			n, age := a.HistoryFor(channel)
			return cluster.HistoryPolicy{MaxEvents: n, MaxAge: age}
		}},
		func(h cluster.Handler) (cluster.Engine, error) { return memory.New(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Store: st, Apps: f.apps, Hub: f.hub, Usage: f.usage, Tap: f.tap, Password: password,
		Log: slog.New(slog.NewTextHandler(f.logs, nil)),
		Now: f.clock.Now,
		AppsChanged: func(ctx context.Context) error {
			f.reloads.Add(1)
			list, err := st.Apps(ctx)
			f.apps.Replace(append([]*apps.App{configApp}, list...))
			return err
		},
		Admit: func(_ context.Context, a *apps.App, n int) error {
			return f.usage.Admit(a.ID, a.DailyMessageQuota, int64(n))
		},
	}
	if mutate != nil {
		mutate(&opts)
	}
	f.c, err = New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.c)
	t.Cleanup(func() { f.c.Close(); f.srv.Close() })
	return f
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browser is a cookie-keeping client with the CSRF token of its session.
type browser struct {
	f    *fixture
	hc   *http.Client
	csrf string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, hc: &http.Client{Jar: jar}}
}

func (f *fixture) signedIn() *browser {
	f.t.Helper()
	b := f.browser()
	st, body := b.do("POST", "/console/api/login", map[string]string{"password": password})
	if st != 200 {
		f.t.Fatalf("sign in: %d %v", st, body)
	}
	b.csrf = body["csrf_token"].(string)
	return b
}

// do sends a request (with the CSRF header when b has a token) and decodes
// the JSON answer.
func (b *browser) do(method, path string, body any) (int, map[string]any) {
	b.f.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.f.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set(csrfHeader, b.csrf)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			b.f.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (f *fixture) storedApps() int {
	list, err := f.store.Apps(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list)
}

func wantError(t *testing.T, st int, body map[string]any, status int, contains string) {
	t.Helper()
	msg, _ := body["error"].(string)
	if st != status || !strings.Contains(msg, contains) {
		t.Fatalf("got %d %v, want %d with %q", st, body, status, contains)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.browser()
	st, body := b.do("POST", "/console/api/login", map[string]string{"password": "wrong"})
	wantError(t, st, body, 401, "wrong password")
	if st, body := b.do("GET", "/console/api/apps", nil); st != 401 {
		t.Fatalf("wrong password gave a session: %d %v", st, body)
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/console/api/login", strings.NewReader("password="+password))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form login (cross-site able): %d", resp.StatusCode)
	}

	req, _ = http.NewRequest("POST", f.srv.URL+"/console/api/login", strings.NewReader(`{"password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Cookies()
	if resp.StatusCode != 200 || len(ck) != 2 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode ||
		ck[0].Path != "/console" || ck[0].Secure || ck[1].Name != deviceCookie || !ck[1].HttpOnly ||
		ck[1].Path != "/console/api/login" {
		t.Fatalf("login: %d cookies %+v", resp.StatusCode, ck)
	}

	s := f.signedIn()
	resp, err = s.hc.Get(f.srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<meta name="csrf-token" content="`+s.csrf+`">`) {
		t.Fatalf("page lacks the CSRF meta tag:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	resp, err = http.Get(f.srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<meta name="csrf-token" content="">`) {
		t.Fatal("signed-out page carries a CSRF token")
	}
}

func TestSessionRequiredAndExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.SessionTTL = time.Hour })
	anon := f.browser()
	st, body := anon.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "sign in")
	anon.csrf = "forged"
	st, body = anon.do("POST", "/console/api/apps", map[string]string{"name": "x"})
	wantError(t, st, body, 401, "sign in")

	b := f.signedIn()
	if st, _ := b.do("GET", "/console/api/apps", nil); st != 200 {
		t.Fatalf("fresh session: %d", st)
	}
	f.clock.Advance(time.Hour + time.Second)
	st, body = b.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "session expired")
	st, body = b.do("POST", "/console/api/apps", map[string]string{"name": "late"})
	wantError(t, st, body, 401, "session expired")
	if n := f.storedApps(); n != 0 {
		t.Fatalf("expired session created %d apps", n)
	}

	// A tampered cookie is refused.
	u := f.srv.URL + "/console"
	tampered := f.signedIn()
	req, _ := http.NewRequest("GET", u, nil)
	for _, ck := range tampered.hc.Jar.Cookies(req.URL) {
		ck.Value = strings.Replace(ck.Value, ".", ".x", 1)
		ck.Path = "/console"
		tampered.hc.Jar.SetCookies(req.URL, []*http.Cookie{ck})
	}
	st, body = tampered.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "invalid session")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	jar := b.hc.Jar
	u, _ := http.NewRequest("GET", f.srv.URL+"/console", nil)
	saved := jar.Cookies(u.URL)
	if st, _ := b.do("POST", "/console/api/logout", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	for _, ck := range saved {
		ck.Path = "/console"
	}
	jar.SetCookies(u.URL, saved) // a stolen copy of the cookie
	st, body := b.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "signed out")
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	token := b.csrf
	b.csrf = ""
	st, body := b.do("POST", "/console/api/apps", map[string]string{"name": "no token"})
	wantError(t, st, body, 403, "missing CSRF token")
	b.csrf = token[:len(token)-2] + "xx"
	st, body = b.do("POST", "/console/api/apps", map[string]string{"name": "bad token"})
	wantError(t, st, body, 403, "invalid CSRF token")
	if n := f.storedApps(); n != 0 {
		t.Fatalf("created %d apps without a valid token", n)
	}
	// Another session's token does not work either.
	b.csrf = f.signedIn().csrf
	st, body = b.do("POST", "/console/api/apps", map[string]string{"name": "other token"})
	wantError(t, st, body, 403, "invalid CSRF token")
	b.csrf = token
	if st, body := b.do("POST", "/console/api/apps", map[string]string{"name": "ok"}); st != 201 {
		t.Fatalf("with token: %d %v", st, body)
	}
}

func TestMalformedSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	st, body := b.do("POST", "/console/api/apps", map[string]any{"name": "  ", "max_connections": -1})
	wantError(t, st, body, 400, "invalid settings")
	fields := body["fields"].(map[string]any)
	if fields["name"] == nil || fields["max_connections"] == nil {
		t.Fatalf("fields %v", fields)
	}
	if f.storedApps() != 0 {
		t.Fatal("invalid create stored an app")
	}
	_, created := b.do("POST", "/console/api/apps", map[string]any{"name": "good"})
	id := created["id"].(string)
	path := "/console/api/apps/" + id
	cases := []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"wrong type", `{"max_connections": "many"}`, "max_connections", "must be a whole number"},
		{"bool as string", `{"enabled": "yes"}`, "enabled", "must be true or false"},
		{"unknown field", `{"colour": "red"}`, "colour", "unknown field"},
		{"out of range", `{"daily_message_quota": -5, "max_presence_members": 0}`, "daily_message_quota", "between"},
		{"bad webhook", `{"webhooks": [{"url": "not a url"}]}`, "webhooks[0].url", "http"},
	}
	for _, tc := range cases {
		st, body := b.do("PATCH", path, tc.body)
		fe, _ := body["fields"].(map[string]any)
		if st != 400 || !strings.Contains(fmtAny(fe[tc.field]), tc.msg) {
			t.Errorf("%s: %d %v, want 400 with %s: %s", tc.name, st, body, tc.field, tc.msg)
		}
	}
	st, body = b.do("PATCH", path, `{"name": "x",`)
	wantError(t, st, body, 400, "not valid JSON")
	a, _ := f.store.App(context.Background(), id)
	if a.Name != "good" || a.MaxConnections != 0 || a.DailyMessageQuota != 0 || !a.Enabled {
		t.Fatalf("app changed by invalid requests: %+v", a)
	}
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}

func TestAppLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	st, app := b.do("POST", "/console/api/apps", map[string]any{"name": "Chat", "client_events": true})
	if st != 201 || !regexp.MustCompile(`^\d{7}$`).MatchString(app["id"].(string)) || len(app["secret"].(string)) != 20 {
		t.Fatalf("create: %d %v", st, app)
	}
	id := app["id"].(string)
	if _, err := f.apps.ByID(id); err != nil || f.reloads.Load() != 1 {
		t.Fatalf("registry not reloaded after create (%d reloads): %v", f.reloads.Load(), err)
	}
	_, list := b.do("GET", "/console/api/apps", nil)
	apps := list["apps"].([]any)
	if len(apps) != 2 || apps[0].(map[string]any)["secret"] != nil {
		t.Fatalf("list: %v", list)
	}
	st, upd := b.do("PATCH", "/console/api/apps/"+id, map[string]any{"enabled": false, "daily_message_quota": 100})
	if st != 200 || upd["enabled"] != false || upd["daily_message_quota"].(float64) != 100 || upd["name"] != "Chat" {
		t.Fatalf("update: %d %v", st, upd)
	}
	if a, _ := f.apps.ByID(id); a.Enabled {
		t.Fatal("registry still has the app enabled")
	}
	_, rot := b.do("POST", "/console/api/apps/"+id+"/rotate-secret", nil)
	if rot["secret"] == app["secret"] || rot["key"] != app["key"] {
		t.Fatalf("rotate: %v", rot)
	}
	if st, _ := b.do("DELETE", "/console/api/apps/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	st, body := b.do("GET", "/console/api/apps/"+id, nil)
	wantError(t, st, body, 404, "no app")
	for _, m := range []string{"PATCH", "DELETE"} {
		st, body := b.do(m, "/console/api/apps/cfg", map[string]any{"name": "x"})
		wantError(t, st, body, 409, "read-only")
	}
	st, body = b.do("POST", "/console/api/apps/cfg/rotate-secret", nil)
	wantError(t, st, body, 409, "read-only")
	if !strings.Contains(f.logs.String(), "app created") || strings.Contains(f.logs.String(), rot["secret"].(string)) {
		t.Fatalf("logs must record changes and never secrets:\n%s", f.logs)
	}
}

// sink is a hub client recording the frames it is sent.
type sink struct {
	id     string
	frames chan string
}

func (s *sink) SocketID() string                          { return s.id }
func (s *sink) Send(frame []byte)                         { s.frames <- string(frame) }
func (s *sink) Close(_ *protocol.Error)                   {}
func (s *sink) SendTracked(frame []byte, _ *hub.Delivery) { s.Send(frame) }
func newSink(id string) *sink                             { return &sink{id: id, frames: make(chan string, 16)} }
func (s *sink) next(t *testing.T) string                  { t.Helper(); return recv(t, s.frames) }
func recv(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
	}
	return ""
}

func TestEventCreator(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	_, app := b.do("POST", "/console/api/apps", map[string]any{"name": "E", "daily_message_quota": 3})
	id := app["id"].(string)
	a, _ := f.apps.ByID(id)
	c := newSink("1.1")
	if err := f.hub.Subscribe(context.Background(), a, c, "news", nil); err != nil {
		t.Fatal(err)
	}
	c.next(t) // subscription_succeeded
	path := "/console/api/apps/" + id + "/events"
	st, body := b.do("POST", path, map[string]string{"channel": "news", "event": "flash", "data": `{"n":1}`})
	if st != 200 {
		t.Fatalf("send: %d %v", st, body)
	}
	if got := c.next(t); !strings.Contains(got, `"event":"flash"`) || !strings.Contains(got, `{\"n\":1}`) {
		t.Fatalf("subscriber got %s", got)
	}
	// 1 publish + 1 delivery so far; the next publish (3) is admitted, the one after is not.
	if st, _ := b.do("POST", path, map[string]string{"channel": "news", "event": "flash", "data": "2"}); st != 200 {
		t.Fatalf("second send: %d", st)
	}
	c.next(t)
	st, body = b.do("POST", path, map[string]string{"channel": "news", "event": "flash", "data": "3"})
	wantError(t, st, body, 403, "Over quota")
	st, body = b.do("POST", path, map[string]string{"channel": "bad channel!", "event": "pusher:x", "data": "{nope"})
	fe, _ := body["fields"].(map[string]any)
	if st != 400 || fe["channel"] == nil || fe["event"] == nil || fe["data"] == nil {
		t.Fatalf("invalid event: %d %v", st, body)
	}
}

// TestChannelHistory: the debug console's "Load history" reads a channel's
// kept events through the hub, oldest first, for a signed-in session only;
// 404 when the app keeps no history for the channel.
func TestChannelHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	st, app := b.do("POST", "/console/api/apps", map[string]any{"name": "H",
		"history": map[string]any{"channels": []string{"news-"}, "max_events": 3, "max_age_seconds": 600}})
	if st != 201 {
		t.Fatalf("create: %d %v", st, app)
	}
	id := app["id"].(string)
	for i := 1; i <= 4; i++ {
		if err := f.hub.Publish(context.Background(), id, []string{"news-1", "other"}, "flash", fmt.Sprintf(`{"n":%d}`, i), ""); err != nil {
			t.Fatal(err)
		}
	}
	path := "/console/api/apps/" + id + "/history?channel="
	st, body := f.browser().do("GET", path+"news-1", nil)
	if st != 401 || body["events"] != nil {
		t.Fatalf("without a session: %d %v", st, body)
	}
	st, body = b.do("GET", path+"news-1", nil)
	events, _ := body["events"].([]any)
	if st != 200 || len(events) != 3 {
		t.Fatalf("history: %d %v", st, body)
	}
	prev := ""
	for i, e := range events {
		ev := e.(map[string]any)
		if ev["event"] != "flash" || ev["data"] != fmt.Sprintf(`{"n":%d}`, i+2) || ev["id"] == "" || ev["id"] == prev {
			t.Fatalf("event %d: %v (all: %v)", i, ev, events)
		}
		prev = ev["id"].(string)
	}
	st, body = b.do("GET", path+"news-2", nil)
	if events, ok := body["events"].([]any); st != 200 || !ok || len(events) != 0 {
		t.Fatalf("nothing kept: %d %v", st, body)
	}
	st, body = b.do("GET", path+"other", nil)
	wantError(t, st, body, 404, "history is off for channel other")
	st, body = b.do("GET", path+"bad%20channel!", nil)
	if fe, _ := body["fields"].(map[string]any); st != 400 || fe["channel"] == nil {
		t.Fatalf("bad channel: %d %v", st, body)
	}
	st, body = b.do("GET", "/console/api/apps/nope/history?channel=news-1", nil)
	wantError(t, st, body, 404, "no app")
}

// TestEventCreatorLimits: the event creator refuses what the REST API
// refuses, with the same messages naming the configured limits.
func TestEventCreatorLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.MaxEventBytes, o.MaxEventNameLen, o.MaxChannelNameLen = 2048, 20, 30 })
	b := f.signedIn()
	path := "/console/api/apps/" + configApp.ID + "/events"
	st, body := b.do("POST", path, map[string]string{"channel": strings.Repeat("c", 31), "event": strings.Repeat("e", 21),
		"data": `"` + strings.Repeat("x", 2048) + `"`})
	fe, _ := body["fields"].(map[string]any)
	want := map[string]string{"event": "Event name too long: the limit is 20 bytes",
		"data": "the limit is 2 KB (2048 bytes)", "channel": "use 1 to 30 letters"}
	for k, v := range want {
		if m, _ := fe[k].(string); st != 400 || !strings.Contains(m, v) {
			t.Errorf("%s: %d %v, want %q", k, st, body, v)
		}
	}
	st, body = b.do("POST", path, map[string]string{"channel": "private-encrypted-x", "event": "pusher:x", "data": "{nope"})
	fe, _ = body["fields"].(map[string]any)
	if st != 400 || !strings.Contains(fmt.Sprint(fe["event"]), "reserved") || !strings.Contains(fmt.Sprint(fe["channel"]), "encrypted") ||
		fe["data"] != "must be valid JSON" {
		t.Fatalf("event creator rules: %d %v", st, body)
	}
	st, body = b.do("POST", path, map[string]string{"channel": "", "event": "", "data": "{}"})
	fe, _ = body["fields"].(map[string]any)
	if st != 400 || fe["channel"] != "must not be empty" || !strings.Contains(fmt.Sprint(fe["event"]), "Missing event name") {
		t.Fatalf("empty channel and event: %d %v", st, body)
	}
}

// sse reads the debug stream of an app.
func (b *browser) sse(ctx context.Context, appID string) (chan Entry, *http.Response) {
	b.f.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.f.srv.URL+"/console/api/apps/"+appID+"/stream", nil)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	out := make(chan Entry, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e Entry
				if json.Unmarshal([]byte(d), &e) == nil {
					out <- e
				}
			}
		}
		close(out)
	}()
	return out, resp
}

func nextEntry(t *testing.T, c chan Entry, typ string) Entry {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-c:
			if !ok {
				t.Fatalf("stream ended before a %s entry", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s entry within 5s", typ)
		}
	}
}

func TestDebugStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entries, resp := b.sse(ctx, "cfg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	waitWatching(t, f.tap, 1)
	c := newSink("2.2")
	if err := f.hub.Connect(configApp, c); err != nil {
		t.Fatal(err)
	}
	if e := nextEntry(t, entries, "connection"); e.SocketID != "2.2" {
		t.Fatalf("connection entry %+v", e)
	}
	if err := f.hub.Subscribe(ctx, configApp, c, "room", nil); err != nil {
		t.Fatal(err)
	}
	nextEntry(t, entries, "channel_occupied")
	nextEntry(t, entries, "subscribed")
	big := `"` + strings.Repeat("x", 3000) + `"`
	if err := f.hub.Publish(ctx, "cfg", []string{"room"}, "update", big, ""); err != nil {
		t.Fatal(err)
	}
	e := nextEntry(t, entries, "api_message")
	if e.Channel != "room" || e.Event != "update" || e.Size != len(big) || !e.Truncated || len(e.Data) != maxEntryData {
		t.Fatalf("api_message entry %+v", e)
	}
	f.tap.Error("cfg", 401, "POST /apps/cfg/events: Invalid signature")
	if e := nextEntry(t, entries, "error"); e.Status != 401 || !strings.Contains(e.Message, "signature") {
		t.Fatalf("error entry %+v", e)
	}
	f.tap.Error("other-app", 401, "not for this stream")
	f.hub.Disconnect(configApp, c, "client closed")
	if e := nextEntry(t, entries, "disconnection"); e.Reason != "client closed" {
		t.Fatalf("disconnection entry %+v", e)
	}

	// Unknown apps and signed-out browsers get no stream.
	st, body := b.do("GET", "/console/api/apps/nope/stream", nil)
	wantError(t, st, body, 404, "no app")
	st, body = f.browser().do("GET", "/console/api/apps/cfg/stream", nil)
	wantError(t, st, body, 401, "sign in")

	cancel()
	waitWatching(t, f.tap, 0)
}

func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	entries, _ := f.signedIn().sse(context.Background(), "cfg")
	waitWatching(t, f.tap, 1)
	f.c.Close()
	select {
	case _, ok := <-entries:
		for ok {
			_, ok = <-entries
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Close")
	}
	waitWatching(t, f.tap, 0)
}

func waitWatching(t *testing.T, tap *Tap, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tap.watching.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers, want %d", tap.watching.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatcherDropsOldest(t *testing.T) {
	t.Parallel()
	tap := NewTap()
	w, err := tap.watch("a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ringSize + 10 {
		tap.Observe(hub.Event{Kind: hub.Published, AppID: "a", Event: "e", Count: i})
	}
	got, dropped := w.drain(nil)
	if len(got) != ringSize || dropped != 10 || got[0].Count != 10 || got[len(got)-1].Count != ringSize+9 {
		t.Fatalf("drained %d (first %d), dropped %d", len(got), got[0].Count, dropped)
	}
	if got, dropped := w.drain(nil); len(got) != 0 || dropped != 0 {
		t.Fatal("drain did not empty the ring")
	}
	for range maxWatchersPerApp - 1 {
		if _, err := tap.watch("a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tap.watch("a"); err == nil {
		t.Fatal("no limit on watchers per app")
	}
}

func TestGeneratedPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.Password = "" })
	m := regexp.MustCompile(`password=([a-z0-9-]+)`).FindStringSubmatch(f.logs.String())
	if m == nil {
		t.Fatalf("generated password not logged:\n%s", f.logs)
	}
	hash, ok, _ := f.store.Meta(context.Background(), metaPasswordHash)
	if !ok || strings.Contains(hash, m[1]) || !strings.HasPrefix(hash, "pbkdf2-sha256$") {
		t.Fatalf("stored %q", hash)
	}
	b := f.browser()
	if st, body := b.do("POST", "/console/api/login", map[string]string{"password": m[1]}); st != 200 {
		t.Fatalf("sign in with the generated password: %d %v", st, body)
	}
	// A restart keeps the password and does not print it again.
	var logs bytes.Buffer
	ctx := context.Background()
	c2, err := New(ctx, Options{Store: f.store, Apps: f.apps, Hub: f.hub, Usage: f.usage, Tap: f.tap,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	good, _ := c2.auth.check(ctx, m[1])
	bad, _ := c2.auth.check(ctx, "other")
	if strings.Contains(logs.String(), m[1]) || !good || bad {
		t.Fatalf("restart: logs %q", logs.String())
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, p := range []string{"/console/assets/console.js", "/console/assets/console.css", "/console/assets/favicon.svg"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	resp, err := http.Get(f.srv.URL + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/console/" {
		t.Fatalf("/console went to %s", resp.Request.URL.Path)
	}
}

func BenchmarkObserveUnwatched(b *testing.B) {
	tap := NewTap()
	e := hub.Event{Kind: hub.Published, AppID: "a", Channel: "c", Event: "e", Data: "{}"}
	b.ReportAllocs()
	for b.Loop() {
		tap.Observe(e)
	}
}
