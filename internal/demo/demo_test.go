package demo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/demo"
	"github.com/pixiu-io/pixiu/pusher"
)

// recorder is a demo.Publisher that records what it is asked to publish.
type recorder struct {
	mu    sync.Mutex
	calls []call
	err   error // returned by TriggerAsync when set
}

type call struct {
	channels []string
	event    string
	data     any
}

func (r *recorder) TriggerAsync(channels []string, event string, data any, _ *pusher.TriggerOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.calls = append(r.calls, call{channels, event, data})
	return nil
}

func (r *recorder) published() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func newDemo(t *testing.T, pub demo.Publisher, pusherJSPath string) http.Handler {
	t.Helper()
	d, err := demo.New(demo.Options{Publisher: pub, AppKey: func() string { return "the-app-key" }, PusherJSPath: pusherJSPath})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testToken is the CSRF token serve sends with a form that has none.
const testToken = "0123456789abcdef0123456789abcdef"

func serve(h http.Handler, method, target string, body url.Values, accept string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != nil {
		if _, ok := body["csrf"]; !ok {
			body.Set("csrf", testToken)
		}
		req = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "pixiu_demo_csrf", Value: testToken})
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestNewRequiresPublisherAndKey(t *testing.T) {
	t.Parallel()
	if _, err := demo.New(demo.Options{AppKey: func() string { return "k" }}); err == nil {
		t.Error("New without Publisher: no error")
	}
	if _, err := demo.New(demo.Options{Publisher: &recorder{}}); err == nil {
		t.Error("New without AppKey: no error")
	}
}

func TestTradePublishesAndRedirects(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	h := newDemo(t, pub, "")
	before := time.Now().UTC().Truncate(time.Millisecond)
	w := serve(h, "POST", "/demo/trade", url.Values{"price": {" 101.25 "}, "amount": {"3"}, "side": {"Sell"}}, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/demo/trade?ok=1" {
		t.Fatalf("got %d Location %q, want 303 to /demo/trade?ok=1; body %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	calls := pub.published()
	if len(calls) != 1 {
		t.Fatalf("published %d events, want 1", len(calls))
	}
	c := calls[0]
	if len(c.channels) != 1 || c.channels[0] != "price_channel" || c.event != "update" {
		t.Fatalf("published %q on %q, want update on price_channel", c.event, c.channels)
	}
	trade, ok := c.data.(demo.Trade)
	if !ok {
		t.Fatalf("data is %T, want demo.Trade", c.data)
	}
	if trade.Price != 101.25 || trade.Amount != 3 || trade.Side != "sell" {
		t.Fatalf("trade = %+v", trade)
	}
	at, err := time.Parse(time.RFC3339Nano, trade.Time)
	if err != nil || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("trade time %q (%v) is not now", trade.Time, err)
	}
	b, _ := json.Marshal(trade)
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil || wire["price"] != 101.25 || wire["side"] != "sell" || wire["amount"] != 3.0 {
		t.Fatalf("wire form %s", b)
	}
}

func TestTradeDefaults(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	h := newDemo(t, pub, "")
	w := serve(h, "POST", "/demo/trade", url.Values{"price": {"7"}}, "")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("got %d: %s", w.Code, w.Body)
	}
	trade := pub.published()[0].data.(demo.Trade)
	if trade.Side != "buy" || trade.Amount != 0 {
		t.Fatalf("trade = %+v, want side buy and no amount", trade)
	}
	if b, _ := json.Marshal(trade); strings.Contains(string(b), "amount") {
		t.Fatalf("an empty amount is sent: %s", b)
	}
}

func TestTradeValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		form url.Values
		want string // part of the message
	}{
		{"no price", url.Values{}, "price is required"},
		{"blank price", url.Values{"price": {"  "}}, "price is required"},
		{"text price", url.Values{"price": {"abc"}}, "price must be a number"},
		{"zero price", url.Values{"price": {"0"}}, "price must be greater than 0"},
		{"negative price", url.Values{"price": {"-1"}}, "price must be greater than 0"},
		{"NaN price", url.Values{"price": {"NaN"}}, "price must be a number"},
		{"infinite price", url.Values{"price": {"Inf"}}, "price must be a number"},
		{"overflowing price", url.Values{"price": {"1e400"}}, "price must be at most 1,000,000,000,000"},
		{"negative overflow", url.Values{"price": {"-1e400"}}, "price must be greater than 0"},
		{"huge price", url.Values{"price": {"1e13"}}, "price must be at most 1,000,000,000,000"},
		{"huge amount", url.Values{"price": {"1"}, "amount": {"99999999999999999"}}, "amount must be at most 1,000,000,000,000"},
		{"bad amount", url.Values{"price": {"1"}, "amount": {"x"}}, "amount must be a number"},
		{"negative amount", url.Values{"price": {"1"}, "amount": {"-2"}}, "amount must be greater than 0"},
		{"bad side", url.Values{"price": {"1"}, "side": {"hold"}}, "side must be buy or sell"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub := &recorder{}
			h := newDemo(t, pub, "")

			w := serve(h, "POST", "/demo/trade", tc.form, "application/json")
			if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("JSON: got %d %s", w.Code, w.Header().Get("Content-Type"))
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, tc.want) {
				t.Fatalf("JSON body %s, want an error containing %q", w.Body, tc.want)
			}

			w = serve(h, "POST", "/demo/trade", tc.form, "text/html,application/xhtml+xml,*/*")
			if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("HTML: got %d %s", w.Code, w.Header().Get("Content-Type"))
			}
			page := w.Body.String()
			if !strings.Contains(page, `class="notice error"`) || !strings.Contains(page, "<form") {
				t.Fatalf("HTML: want the form again with the error, got\n%s", page)
			}
			if got := pub.published(); len(got) != 0 {
				t.Fatalf("published %v for a refused trade", got)
			}
		})
	}
}

func TestRefusedFormKeepsInput(t *testing.T) {
	t.Parallel()
	h := newDemo(t, &recorder{}, "")
	w := serve(h, "POST", "/demo/trade", url.Values{"price": {"-5"}, "amount": {"4"}, "side": {"sell"}}, "")
	page := w.Body.String()
	for _, want := range []string{`value="-5"`, `value="4"`, `value="sell" checked`, "price must be greater than 0"} {
		if !strings.Contains(page, want) {
			t.Errorf("refused form lacks %s", want)
		}
	}
}

func TestTradeBodyLimit(t *testing.T) {
	t.Parallel()
	h := newDemo(t, &recorder{}, "")
	w := serve(h, "POST", "/demo/trade", url.Values{"price": {"1"}, "pad": {strings.Repeat("x", 8<<10)}}, "application/json")
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d %s, want 413", w.Code, w.Body)
	}
}

func TestTradePublisherErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status int
		hidden string // must not reach the client
	}{
		{"queue full", pusher.ErrQueueFull, http.StatusServiceUnavailable, ""},
		{"closed", pusher.ErrClosed, http.StatusServiceUnavailable, ""},
		{"other", errors.New("secret internal detail"), http.StatusInternalServerError, "secret internal detail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newDemo(t, &recorder{err: tc.err}, "")
			w := serve(h, "POST", "/demo/trade", url.Values{"price": {"1"}}, "application/json")
			if w.Code != tc.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.hidden != "" && strings.Contains(w.Body.String(), tc.hidden) {
				t.Fatalf("internal error text reached the client: %s", w.Body)
			}
		})
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	h := newDemo(t, &recorder{}, "")
	for _, path := range []string{"/demo/market", "/demo/trade"} {
		w := serve(h, "GET", path, nil, "")
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", path)
		}
	}
	market := serve(h, "GET", "/demo/market", nil, "").Body.String()
	for _, want := range []string{`data-app-key="the-app-key"`, `data-channel="price_channel"`, `data-event="update"`, `/demo/static/market.js`} {
		if !strings.Contains(market, want) {
			t.Errorf("market page lacks %s", want)
		}
	}
	if trade := serve(h, "GET", "/demo/trade", nil, "").Body.String(); strings.Contains(trade, `class="notice ok"`) {
		t.Error("trade page shows the published notice without ?ok=1")
	}
	if trade := serve(h, "GET", "/demo/trade?ok=1", nil, "").Body.String(); !strings.Contains(trade, `class="notice ok"`) {
		t.Error("trade page with ?ok=1 does not say the trade was published")
	}
	if w := serve(h, "GET", "/demo/", nil, ""); w.Code != http.StatusFound || w.Header().Get("Location") != "/demo/market" {
		t.Errorf("GET /demo/: %d to %q, want a redirect to the market", w.Code, w.Header().Get("Location"))
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	h := newDemo(t, &recorder{}, "")
	for path, ctype := range map[string]string{
		"/demo/static/demo.css":  "text/css",
		"/demo/static/market.js": "text/javascript",
		"/demo/static/trade.js":  "text/javascript",
	} {
		w := serve(h, "GET", path, nil, "")
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	for _, path := range []string{"/demo/static/market.html", "/demo/static/", "/demo/static/nope.js"} {
		if w := serve(h, "GET", path, nil, ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
}

func TestPusherJSServedWhenInstalled(t *testing.T) {
	t.Parallel()
	// The npm package's layout: dist/web/pusher.min.js{,.LICENSE.txt}, LICENCE.
	pkg := filepath.Join(t.TempDir(), "node_modules", "pusher-js")
	web := filepath.Join(pkg, "dist", "web")
	if err := os.MkdirAll(web, 0o700); err != nil {
		t.Fatal(err)
	}
	const js, notices, licence = "/* pusher-js stand-in */ window.Pusher = function () {};", "notices", "MIT licence"
	for name, body := range map[string]string{filepath.Join(web, "pusher.min.js"): js,
		filepath.Join(web, "pusher.min.js.LICENSE.txt"): notices, filepath.Join(pkg, "LICENCE"): licence} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := newDemo(t, &recorder{}, filepath.Join(web, "pusher.min.js"))
	expectVendor(t, h, js, notices, licence)
}

// expectVendor checks the demo serves pusher-js and its licences under
// /demo/vendor/ with their content types, and the pages load that copy.
func expectVendor(t *testing.T, h http.Handler, js, notices, licence string) {
	t.Helper()
	for _, f := range []struct{ path, body, ctype string }{
		{"/demo/vendor/pusher.min.js", js, "text/javascript; charset=utf-8"},
		{"/demo/vendor/pusher.min.js.LICENSE.txt", notices, "text/plain; charset=utf-8"},
		{"/demo/vendor/pusher-js.LICENSE", licence, "text/plain; charset=utf-8"},
	} {
		w := serve(h, "GET", f.path, nil, "")
		if w.Code != http.StatusOK || w.Body.String() != f.body || w.Header().Get("Content-Type") != f.ctype {
			t.Errorf("GET %s: %d %s, %d bytes; want 200 %s, %d bytes", f.path, w.Code, w.Header().Get("Content-Type"),
				w.Body.Len(), f.ctype, len(f.body))
		}
	}
	market := serve(h, "GET", "/demo/market", nil, "").Body.String()
	if !strings.Contains(market, `<script src="/demo/vendor/pusher.min.js">`) || strings.Contains(market, "js.pusher.com") ||
		!strings.Contains(market, `pusher-js from <span id="pusher-js-from">this server</span>`) {
		t.Fatalf("market page does not load the local pusher-js:\n%s", market)
	}
}

// TestPusherJSGivenWinsOverPath: a build handed over in Options (the
// server's embedded copy) is served, not the file at PusherJSPath.
func TestPusherJSGivenWinsOverPath(t *testing.T) {
	t.Parallel()
	onDisk := filepath.Join(t.TempDir(), "pusher.min.js")
	if err := os.WriteFile(onDisk, []byte("on disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := demo.New(demo.Options{Publisher: &recorder{}, AppKey: func() string { return "k" }, PusherJSPath: onDisk,
		PusherJS: &demo.PusherJS{Script: []byte("embedded"), Notices: []byte("n"), License: []byte("l"), Version: "8.6.0"}})
	if err != nil {
		t.Fatal(err)
	}
	expectVendor(t, d, "embedded", "n", "l")
}

// TestEmbeddedPusherJS: the binary carries exactly what `make build` copied
// into pusherjs/ (from the pinned npm package), and the demo serves those
// bytes; a build without that step carries nothing and the pages use the CDN.
func TestEmbeddedPusherJS(t *testing.T) {
	t.Parallel()
	emb := demo.EmbeddedPusherJS()
	onDisk, err := os.ReadFile(filepath.Join("pusherjs", "pusher.min.js"))
	if errors.Is(err, fs.ErrNotExist) {
		if emb != nil {
			t.Fatalf("pusherjs/pusher.min.js is absent but the package embeds %d bytes", len(emb.Script))
		}
		d, err := demo.New(demo.Options{Publisher: &recorder{}, AppKey: func() string { return "k" }, PusherJS: emb})
		if err != nil {
			t.Fatal(err)
		}
		if w := serve(d, "GET", "/demo/vendor/pusher.min.js", nil, ""); w.Code != http.StatusNotFound {
			t.Fatalf("nothing embedded, GET /demo/vendor/pusher.min.js: %d, want 404", w.Code)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if emb == nil || !bytes.Equal(emb.Script, onDisk) || !bytes.Contains(emb.Script, []byte("Pusher")) ||
		len(emb.License) == 0 || len(emb.Notices) == 0 || emb.Version == "" {
		t.Fatalf("embedded pusher-js does not match pusherjs/ (%d bytes on disk): %+v", len(onDisk), emb != nil)
	}
	d, err := demo.New(demo.Options{Publisher: &recorder{}, AppKey: func() string { return "k" }, PusherJS: emb})
	if err != nil {
		t.Fatal(err)
	}
	expectVendor(t, d, string(onDisk), string(emb.Notices), string(emb.License))
}

func TestPusherJSFallsBackToCDN(t *testing.T) {
	t.Parallel()
	for name, path := range map[string]string{
		"not configured": "",
		"not installed":  filepath.Join(t.TempDir(), "node_modules", "pusher.min.js"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newDemo(t, &recorder{}, path)
			if w := serve(h, "GET", "/demo/vendor/pusher.min.js", nil, ""); w.Code != http.StatusNotFound {
				t.Fatalf("GET /demo/vendor/pusher.min.js: %d, want 404", w.Code)
			}
			market := serve(h, "GET", "/demo/market", nil, "").Body.String()
			if !strings.Contains(market, `<script src="`+demo.PusherJSCDN+`">`) {
				t.Fatalf("market page does not load pusher-js from the CDN:\n%s", market)
			}
		})
	}
}

func TestTradeNeedsMatchingCSRFToken(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	h := newDemo(t, pub, "")
	for name, body := range map[string]url.Values{
		"wrong token": {"price": {"1"}, "csrf": {strings.Repeat("f", 32)}},
		"no token":    {"price": {"1"}, "csrf": {""}},
	} {
		if w := serve(h, "POST", "/demo/trade", body, "application/json"); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, w.Code, w.Body)
		}
	}
	// No cookie at all (a cross-site post).
	req := httptest.NewRequest("POST", "/demo/trade", strings.NewReader("price=1&csrf="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("no cookie: %d, want 403", w.Code)
	}
	if n := len(pub.published()); n != 0 {
		t.Fatalf("%d trades published without a valid token", n)
	}
	page := serve(h, "GET", "/demo/trade", nil, "")
	if c := page.Result().Cookies(); len(c) != 1 || c[0].Name != "pixiu_demo_csrf" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode ||
		!strings.Contains(page.Body.String(), `name="csrf" value="`+c[0].Value+`"`) {
		t.Fatalf("the trade page sets no matching HttpOnly SameSite=Strict token cookie: %v", c)
	}
}

func TestTradeRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	d, err := demo.New(demo.Options{Publisher: &recorder{}, AppKey: func() string { return "k" }, TradeRate: 0.001, TradeBurst: 2})
	if err != nil {
		t.Fatal(err)
	}
	post := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/demo/trade", strings.NewReader("price=1&csrf="+testToken))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "pixiu_demo_csrf", Value: testToken})
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		d.ServeHTTP(w, req)
		return w
	}
	for range 2 {
		if w := post("192.0.2.1:1000"); w.Code != http.StatusSeeOther {
			t.Fatalf("within the burst: %d %s", w.Code, w.Body)
		}
	}
	w := post("192.0.2.1:1001")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "too many trades") {
		t.Fatalf("past the burst: %d %s (Retry-After %q), want 429", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if w := post("192.0.2.2:1000"); w.Code != http.StatusSeeOther {
		t.Fatalf("another address is limited too: %d", w.Code)
	}
}

func TestTradeWithoutApp(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	d, err := demo.New(demo.Options{Publisher: pub, AppKey: func() string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(d, "POST", "/demo/trade", url.Values{"price": {"1"}}, "application/json"); w.Code != http.StatusServiceUnavailable ||
		!strings.Contains(w.Body.String(), "no app to publish as") {
		t.Fatalf("trade without an app: %d %s, want 503", w.Code, w.Body)
	}
	if page := serve(d, "GET", "/demo/market", nil, "").Body.String(); !strings.Contains(page, "no app to publish as") || strings.Contains(page, "app key <code>") {
		t.Fatalf("market page without an app does not say so")
	}
	if n := len(pub.published()); n != 0 {
		t.Fatalf("%d trades published without an app", n)
	}
}
