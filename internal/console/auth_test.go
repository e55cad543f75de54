package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// login signs in from b with password, as the client xff when the fixture
// trusts the proxy (X-Forwarded-For), and returns the status, the JSON
// answer and the headers.
func (b *browser) login(password, xff string) (int, map[string]any, http.Header) {
	b.f.t.Helper()
	j, _ := json.Marshal(map[string]string{"password": password})
	req, _ := http.NewRequest("POST", b.f.srv.URL+"/console/api/login", bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode == 200 {
		b.csrf, _ = out["csrf_token"].(string)
	}
	return resp.StatusCode, out, resp.Header
}

// restart opens a second console on the fixture's store: the same server
// after a restart, or another node.
func (f *fixture) restart(mutate func(*Options)) *fixture {
	f.t.Helper()
	g := &fixture{t: f.t, store: f.store, apps: f.apps, hub: f.hub, usage: f.usage, tap: f.tap, clock: f.clock,
		logs: &logBuffer{}}
	opts := Options{Store: f.store, Apps: f.apps, Hub: f.hub, Usage: f.usage, Tap: f.tap, Password: password,
		Now: f.clock.Now, Log: slog.New(slog.NewTextHandler(g.logs, nil))}
	if mutate != nil {
		mutate(&opts)
	}
	var err error
	if g.c, err = New(context.Background(), opts); err != nil {
		f.t.Fatal(err)
	}
	if err := g.c.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	g.srv = newServer(f.t, g.c)
	return g
}

// on returns b talking to g (another node, or the restarted server; all
// listen on 127.0.0.1, and cookies do not depend on the port).
func (b *browser) on(g *fixture) *browser {
	return &browser{f: g, hc: b.hc, csrf: b.csrf}
}

// copy returns another browser holding a copy of b's cookies (stolen).
func (b *browser) copy() *browser {
	t := b.f.t
	c := b.f.browser()
	c.csrf = b.csrf
	for _, path := range []string{"/console", "/console/api/login"} {
		u := mustURL(t, b.f.srv.URL+path)
		for _, ck := range b.hc.Jar.Cookies(u) {
			if (ck.Name == cookieName) == (path == "/console") {
				ck.Path = path
				c.hc.Jar.SetCookies(u, []*http.Cookie{ck})
			}
		}
	}
	return c
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newServer(t *testing.T, c *Console) *httptest.Server {
	srv := httptest.NewServer(c)
	t.Cleanup(func() { c.Close(); srv.Close() })
	return srv
}

// TestSignOutSurvivesRestart: a signed-out cookie stays refused after a
// restart and on another node sharing the store.
func TestSignOutSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	stolen := b.copy() // a copy of the cookie, kept by someone else
	other := f.restart(nil)
	if st, body := b.on(other).do("GET", "/console/api/apps", nil); st != 200 {
		t.Fatalf("session on another node: %d %v", st, body)
	}
	if st, _ := b.do("POST", "/console/api/logout", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	st, body := stolen.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "signed out")
	f.clock.Advance(sessionCheckTTL) // the other node trusted its last look until now
	st, body = stolen.on(other).do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "signed out")
	restarted := f.restart(nil)
	st, body = stolen.on(restarted).do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "signed out")
}

// TestSignOutEverywhere ends every session on every node, and needs the
// session's CSRF token.
func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	other := f.restart(nil)
	b1, b2 := f.signedIn(), other.signedIn()
	if st, _ := b2.on(f).do("GET", "/console/api/apps", nil); st != 200 {
		t.Fatal("b2's session not valid on f")
	}
	token := b1.csrf
	b1.csrf = ""
	if st, _ := b1.do("POST", "/console/api/logout-everywhere", nil); st != 403 {
		t.Fatalf("sign out everywhere without the CSRF token: %d", st)
	}
	b1.csrf = token
	st, body := b1.do("POST", "/console/api/logout-everywhere", nil)
	if st != 200 || body["sessions_ended"] != float64(2) {
		t.Fatalf("sign out everywhere: %d %v", st, body)
	}
	f.clock.Advance(sessionCheckTTL)
	for _, b := range []*browser{b1, b2.on(f), b2} {
		st, body := b.do("GET", "/console/api/apps", nil)
		wantError(t, st, body, 401, "sign")
	}
	if b := f.signedIn(); b == nil {
		t.Fatal("cannot sign in again")
	}
}

// TestPasswordMadeOnlyAtStart: until Start (the server has bound its
// port) no password is generated, stored or logged.
func TestPasswordMadeOnlyAtStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var logs bytes.Buffer
	ctx := context.Background()
	c, err := New(ctx, Options{Store: f.store, Apps: f.apps, Hub: f.hub, Usage: f.usage, Tap: f.tap,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.store.Meta(ctx, metaPasswordHash); ok || strings.Contains(logs.String(), "password=") {
		t.Fatalf("a password was made before Start: %q", logs.String())
	}
	g := &fixture{t: t, store: f.store, apps: f.apps, clock: f.clock, c: c, srv: newServer(t, c)}
	st, body, _ := g.browser().login("anything", "")
	wantError(t, st, body, 503, "starting")
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password=([a-z0-9-]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no password logged at Start:\n%s", logs.String())
	}
	if st, body, _ := g.browser().login(m[1], ""); st != 200 {
		t.Fatalf("sign in with the generated password: %d %v", st, body)
	}
}

// TestResetPassword: a new password applies to the running console at once
// and signs every session out.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.Password = "" })
	m := regexp.MustCompile(`password=([a-z0-9-]+)`).FindStringSubmatch(f.logs.String())
	if m == nil {
		t.Fatal("no generated password")
	}
	b := f.browser()
	if st, _, _ := b.login(m[1], ""); st != 200 {
		t.Fatal("sign in")
	}
	ctx := context.Background()
	if _, _, err := ResetPassword(ctx, f.store, "short"); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	pw, n, err := ResetPassword(ctx, f.store, "a much better passphrase")
	if err != nil || n != 1 || pw != "a much better passphrase" {
		t.Fatalf("reset: %q %d %v", pw, n, err)
	}
	f.clock.Advance(sessionCheckTTL)
	st, body := b.do("GET", "/console/api/apps", nil)
	wantError(t, st, body, 401, "signed out")
	st, body, _ = f.browser().login(m[1], "")
	wantError(t, st, body, 401, "wrong password")
	if st, body, _ := f.browser().login(pw, ""); st != 200 {
		t.Fatalf("new password: %d %v", st, body)
	}
	gen, _, err := ResetPassword(ctx, f.store, "")
	if err != nil || len(gen) != 23 {
		t.Fatalf("generated %q %v", gen, err)
	}
	if st, _, _ := f.browser().login(gen, ""); st != 200 {
		t.Fatal("generated password refused")
	}
}

// TestThrottlePerSource: a source that keeps failing backs off (429 with
// Retry-After, even for the right password) while another source, named by
// a trusted proxy, signs in; X-Forwarded-For from an untrusted peer is
// ignored (a made-up address does not get a clean slate). Failures are
// logged with the source, never the password.
func TestThrottlePerSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i := range freeFailures + 1 {
		st, body, _ := f.browser().login("guess-"+string(rune('a'+i)), "203.0.113.7")
		wantError(t, st, body, 401, "wrong password")
	}
	// Without trusted proxies the header means nothing: same peer, same source.
	st, body, h := f.browser().login(password, "198.51.100.1")
	wantError(t, st, body, 429, "too many failed sign-ins")
	if h.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1 (first back-off)", h.Get("Retry-After"))
	}
	logs := f.logs.String()
	if strings.Count(logs, "console: failed sign-in") != freeFailures+1 || !strings.Contains(logs, "source=127.0.0.1") ||
		strings.Contains(logs, "guess-") {
		t.Fatalf("failed sign-ins not logged as wanted:\n%s", logs)
	}
	f.clock.Advance(time.Second)
	if st, _, _ := f.browser().login(password, ""); st != 200 {
		t.Fatalf("after the back-off: %d", st)
	}

	g := newFixture(t, func(o *Options) { o.TrustedProxies = []string{"127.0.0.1"} })
	for range freeFailures + 1 {
		g.browser().login("guess", "10.9.9.9, 203.0.113.7")
	}
	st, body, _ = g.browser().login(password, "203.0.113.7")
	wantError(t, st, body, 429, "too many")
	if !strings.Contains(g.logs.String(), "source=203.0.113.7") {
		t.Fatalf("source not taken from the trusted proxy's header:\n%s", g.logs.String())
	}
	// The attacker wrote 10.9.9.9 itself: the proxy appended the real address.
	st, body, _ = g.browser().login(password, "203.0.113.7, 198.51.100.1")
	if st != 200 {
		t.Fatalf("another client behind the proxy: %d %v", st, body)
	}
	// The back-off doubles: the 7th failure waits 2 s.
	g.clock.Advance(time.Second)
	g.browser().login("guess", "203.0.113.7")
	if _, _, h := g.browser().login("guess", "203.0.113.7"); h.Get("Retry-After") != "2" {
		t.Fatalf("second back-off Retry-After %q, want 2", h.Get("Retry-After"))
	}
}

// TestThrottleKnownDevice: failures from the admin's own address (the same
// proxy) do not lock out a browser that signed in before.
func TestThrottleKnownDevice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	admin := f.signedIn()
	if st, _ := admin.do("POST", "/console/api/logout", nil); st != 204 {
		t.Fatal("logout")
	}
	for range freeFailures + 3 {
		f.browser().login("guess", "")
	}
	st, body, _ := f.browser().login(password, "")
	wantError(t, st, body, 429, "too many")
	if st, body, _ := admin.login(password, ""); st != 200 {
		t.Fatalf("known device locked out by others' failures: %d %v", st, body)
	}
	// A forged device cookie is no device.
	forged := f.browser()
	u := admin.hc.Jar.Cookies(mustURL(t, f.srv.URL+"/console/api/login"))
	for _, ck := range u {
		if ck.Name == deviceCookie {
			ck.Value = strings.Replace(ck.Value, ".", ".A", 1)
			ck.Path = "/console/api/login"
			forged.hc.Jar.SetCookies(mustURL(t, f.srv.URL+"/console/api/login"), []*http.Cookie{ck})
		}
	}
	st, body, _ = forged.login(password, "")
	wantError(t, st, body, 429, "too many")
}

// TestThrottleGlobalDelaysNotRefuses: many failures from many addresses
// turn on the global queue: a new address is delayed, never refused, and
// the right password gets in.
func TestThrottleGlobalDelaysNotRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.TrustedProxies = []string{"127.0.0.0/8"} })
	f.c.auth.throttle.spacing = 20 * time.Millisecond
	for i := range globalFailures + 5 {
		st, _, _ := f.browser().login("guess", "2001:db8:"+strings.Repeat("1", 1+i%3)+":"+string(rune('a'+i%6))+"::1")
		if st != 401 && st != 429 {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	f.c.auth.throttle.mu.Lock()
	busy := len(f.c.auth.throttle.failures) == globalFailures
	f.c.auth.throttle.mu.Unlock()
	if !busy {
		t.Fatal("the global slow-down is not on")
	}
	start := time.Now()
	if st, body, _ := f.browser().login(password, "198.51.100.20"); st != 200 {
		t.Fatalf("the right password during a flood: %d %v", st, body)
	}
	f.c.auth.throttle.mu.Lock()
	queued := f.c.auth.throttle.nextSlot.After(f.clock.Now())
	f.c.auth.throttle.mu.Unlock()
	if !queued {
		t.Fatalf("the attempt did not go through the global queue (took %v)", time.Since(start))
	}
}
