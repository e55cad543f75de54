package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

func demoOn(c *config.Config) {
	t := true
	c.Demo = &t
}

// noRedirect is an HTTP client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestDemoTradeReachesSubscribers(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, demoOn)
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("price_channel", "", "", "")

	form := openTradeForm(t, s.Addr)
	resp, err := form.post(url.Values{"price": {"101.25"}, "amount": {"2"}, "side": {"sell"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/demo/trade?ok=1" {
		t.Fatalf("POST /demo/trade: %d to %q, want 303 to /demo/trade?ok=1", resp.StatusCode, resp.Header.Get("Location"))
	}

	e := c.Expect("update")
	if e.Channel != "price_channel" {
		t.Fatalf("update on %q, want price_channel", e.Channel)
	}
	var trade struct {
		Price  float64
		Amount float64
		Side   string
		Time   string
	}
	if err := json.Unmarshal([]byte(e.DataString()), &trade); err != nil {
		t.Fatalf("update data %s: %v", e.Data, err)
	}
	if trade.Price != 101.25 || trade.Amount != 2 || trade.Side != "sell" || trade.Time == "" {
		t.Fatalf("update data = %+v", trade)
	}
}

func TestDemoRefusesBadTrade(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, demoOn)
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("price_channel", "", "", "")
	st, body := openTradeForm(t, s.Addr).postJSON(t, url.Values{"price": {"0"}})
	if st != http.StatusBadRequest || !strings.Contains(body, "price must be greater than 0") {
		t.Fatalf("POST price=0: %d %s", st, body)
	}
	c.Quiet("update", 100*time.Millisecond)
}

func TestHomeLinksToDemo(t *testing.T) {
	t.Parallel()
	on := pixiutest.Start(t, demoOn)
	page := get(t, "http://"+on.Addr+"/")
	for _, want := range []string{`href="/demo/market"`, `href="/demo/trade"`, "<code>" + on.App.Key + "</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("home page with the demo on lacks %s", want)
		}
	}
	off := pixiutest.Start(t, nil)
	if page := get(t, "http://"+off.Addr+"/"); strings.Contains(page, "/demo/") {
		t.Errorf("home page links to the demo while it is off")
	}
	resp, err := http.Get("http://" + off.Addr + "/demo/market")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /demo/market with the demo off: %d, want 404", resp.StatusCode)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// tradeForm is the trade page as a browser holds it: its cookie and token.
type tradeForm struct {
	addr   string
	client *http.Client
	token  string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([0-9a-f]{32})"`)

// openTradeForm loads /demo/trade like a browser: the cookie goes in a jar,
// the token comes from the form.
func openTradeForm(t *testing.T, addr string) *tradeForm {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	resp, err := client.Get("http://" + addr + "/demo/trade")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		t.Fatalf("the trade form has no csrf token:\n%s", b)
	}
	return &tradeForm{addr: addr, client: client, token: string(m[1])}
}

func (f *tradeForm) post(v url.Values) (*http.Response, error) {
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", f.token)
	}
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/demo/trade", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return f.client.Do(req)
}

func (f *tradeForm) postJSON(t *testing.T, v url.Values) (int, string) {
	t.Helper()
	resp, err := f.post(v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDemoNeverPublishesAsAnotherApp(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) { demoOn(c); ownApp(c) })
	c := pixiutest.Dial(t, s.Addr, "prod-key")
	c.Subscribe("price_channel", "", "", "")
	if page := get(t, "http://"+s.Addr+"/demo/trade"); !strings.Contains(page, "no app to publish as") {
		t.Errorf("the trade page does not say the demo has no app")
	}
	if page := get(t, "http://"+s.Addr+"/demo/market"); strings.Contains(page, "prod-key") {
		t.Errorf("the market page shows the user's app key")
	}
	st, body := openTradeForm(t, s.Addr).postJSON(t, url.Values{"price": {"5"}})
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "no app to publish as") {
		t.Fatalf("trade without a demo app: %d %s, want 503 saying so", st, body)
	}
	c.Quiet("update", 200*time.Millisecond)
}

func TestDemoPublishesAsTheNamedApp(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		demoOn(c)
		c.Apps = []apps.App{pixiutest.App("a-first", "first-key", "s1", nil), pixiutest.App("b-demo", "demo-key", "s2", nil)}
		c.DemoAppID = "b-demo"
	})
	first := pixiutest.Dial(t, s.Addr, "first-key")
	first.Subscribe("price_channel", "", "", "")
	named := pixiutest.Dial(t, s.Addr, "demo-key")
	named.Subscribe("price_channel", "", "", "")
	if st, body := openTradeForm(t, s.Addr).postJSON(t, url.Values{"price": {"7"}}); st != http.StatusSeeOther {
		t.Fatalf("trade: %d %s", st, body)
	}
	named.Expect("update")
	first.Quiet("update", 200*time.Millisecond)
}

func TestDemoTradeNeedsItsCSRFToken(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, demoOn)
	c := pixiutest.Dial(t, s.Addr, s.App.Key)
	c.Subscribe("price_channel", "", "", "")
	// A cross-site form: no cookie, and a made-up token.
	resp, err := noRedirect.PostForm("http://"+s.Addr+"/demo/trade", url.Values{"price": {"1"}, "csrf": {strings.Repeat("a", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "reload the page") {
		t.Fatalf("trade without the cookie: %d %s, want 403", resp.StatusCode, b)
	}
	form := openTradeForm(t, s.Addr)
	if st, body := form.postJSON(t, url.Values{"price": {"1"}, "csrf": {strings.Repeat("b", 32)}}); st != http.StatusForbidden {
		t.Fatalf("trade with another token than the cookie's: %d %s, want 403", st, body)
	}
	c.Quiet("update", 200*time.Millisecond)
}

func TestDemoTradeRateLimit(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, demoOn)
	form := openTradeForm(t, s.Addr)
	for i := range 20 { // the burst
		if st, body := form.postJSON(t, url.Values{"price": {"1"}}); st != http.StatusSeeOther {
			t.Fatalf("trade %d: %d %s", i+1, st, body)
		}
	}
	// The bucket refills at 2 trades a second, so on a slow machine the
	// burst itself may have earned a trade or two more; past those, 429.
	for extra := 0; ; extra++ {
		resp, err := form.post(url.Values{"price": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther && extra < 5 {
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "too many trades") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("trade %d past the burst: %d %s (Retry-After %q), want 429", extra+1, resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
		return
	}
}
