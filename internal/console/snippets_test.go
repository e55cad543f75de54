package console

import (
	"net/url"
	"strings"
	"testing"
)

// TestSnippets: the getting-started code carries the app's credentials and
// the address the browser gives (else the request's), TLS turns every
// snippet to https/wss, and a bad address is a 400 naming the parameter.
func TestSnippets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.signedIn()
	tabs := func(query string) map[string]string {
		t.Helper()
		st, body := b.do("GET", "/console/api/apps/cfg/snippets"+query, nil)
		if st != 200 {
			t.Fatalf("snippets%s: %d %v", query, st, body)
		}
		out := map[string]string{}
		for _, s := range body["snippets"].([]any) {
			m := s.(map[string]any)
			out[m["name"].(string)] = m["code"].(string)
		}
		return out
	}
	has := func(tabs map[string]string, tab string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(tabs[tab], w) {
				t.Errorf("%s snippet lacks %q:\n%s", tab, w, tabs[tab])
			}
		}
	}

	u, _ := url.Parse(f.srv.URL)
	got := tabs("")
	has(got, "pusher-js", "new Pusher('cfg-key'", "wsHost: '"+u.Hostname()+"'", "wsPort: "+u.Port(), "forceTLS: false")
	has(got, "PHP", "new Pusher\\Pusher('cfg-key', 'cfg-secret', 'cfg', [", "'host' => '"+u.Hostname()+"'",
		"'port' => "+u.Port(), "'scheme' => 'http'")
	has(got, "Laravel", "PUSHER_APP_ID=cfg\n", "PUSHER_APP_KEY=cfg-key\n", "PUSHER_APP_SECRET=cfg-secret\n",
		"PUSHER_HOST="+u.Hostname()+"\n", "PUSHER_PORT="+u.Port()+"\n", "PUSHER_SCHEME=http\n", "broadcaster: 'pusher'")

	got = tabs("?host=push.example.com&port=443&tls=true")
	has(got, "pusher-js", "wsHost: 'push.example.com'", "wssPort: 443", "forceTLS: true")
	has(got, "Node", "secret: 'cfg-secret'", "port: '443'", "useTLS: true")
	has(got, "Go", `Host:   "push.example.com:443"`, "Secure: true")
	has(got, "PHP", "'host' => 'push.example.com'", "'port' => 443", "'scheme' => 'https'", "'useTLS' => true")
	has(got, "Laravel", "PUSHER_HOST=push.example.com\n", "PUSHER_PORT=443\n", "PUSHER_SCHEME=https\n")
	has(got, "Ruby", "Pusher.encrypted = true")

	for q, want := range map[string]string{
		"?host=a'b&port=1":                              "host",
		"?host=h&port=0":                                "port",
		"?host=h&port=1&tls=yes":                        "tls",
		"?host=" + strings.Repeat("a", 300) + "&port=1": "at most 255",
	} {
		st, body := b.do("GET", "/console/api/apps/cfg/snippets"+q, nil)
		wantError(t, st, body, 400, want)
	}
	st, body := b.do("GET", "/console/api/apps/nope/snippets", nil)
	wantError(t, st, body, 404, "no app with id")
	if st, _ := f.browser().do("GET", "/console/api/apps/cfg/snippets", nil); st != 401 {
		t.Fatalf("snippets without a session: %d", st)
	}
}
