package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

	resp, err := noRedirect.PostForm("http://"+s.Addr+"/demo/trade", url.Values{"price": {"101.25"}, "amount": {"2"}, "side": {"sell"}})
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
	req, _ := http.NewRequest("POST", "http://"+s.Addr+"/demo/trade", strings.NewReader("price=0"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "price must be greater than 0") {
		t.Fatalf("POST price=0: %d %s", resp.StatusCode, body)
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
