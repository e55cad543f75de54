package snippets

import (
	"errors"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func byName(t *testing.T, list []Snippet) map[string]string {
	t.Helper()
	m := map[string]string{}
	var names []string
	for _, s := range list {
		m[s.Name] = s.Code
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "pusher-js,Node,Go,PHP,Laravel,Ruby" {
		t.Fatalf("tabs %s", got)
	}
	return m
}

func TestFor(t *testing.T) {
	t.Parallel()
	app := App{ID: "1234567", Key: "k3y", Secret: "s3cret"}
	cases := []struct {
		name string
		ep   Endpoint
		want map[string][]string
	}{
		{"plain", Endpoint{Host: "127.0.0.1", Port: 6001}, map[string][]string{
			"pusher-js": {"new Pusher('k3y'", "wsHost: '127.0.0.1'", "wsPort: 6001", "wssPort: 6001", "forceTLS: false"},
			"Node":      {"appId: '1234567'", "key: 'k3y'", "secret: 's3cret'", "host: '127.0.0.1'", "port: '6001'", "useTLS: false"},
			"Go":        {`AppID:  "1234567"`, `Key:    "k3y"`, `Secret: "s3cret"`, `Host:   "127.0.0.1:6001"`, "Secure: false"},
			"PHP": {"new Pusher\\Pusher('k3y', 's3cret', '1234567', [", "'host' => '127.0.0.1'", "'port' => 6001",
				"'scheme' => 'http'", "'useTLS' => false"},
			"Laravel": {"BROADCAST_CONNECTION=pusher\n", "PUSHER_APP_ID=1234567\n", "PUSHER_APP_KEY=k3y\n", "PUSHER_APP_SECRET=s3cret\n",
				"PUSHER_HOST=127.0.0.1\n", "PUSHER_PORT=6001\n", "PUSHER_SCHEME=http\n", `VITE_PUSHER_APP_KEY="${PUSHER_APP_KEY}"`,
				"'driver' => 'pusher'", "broadcaster: 'pusher'", "key: import.meta.env.VITE_PUSHER_APP_KEY"},
			"Ruby": {"Pusher.key = 'k3y'", "Pusher.host = '127.0.0.1'", "Pusher.port = 6001", "Pusher.encrypted = false"},
		}},
		{"tls", Endpoint{Host: "push.example.com", Port: 443, TLS: true}, map[string][]string{
			"pusher-js": {"wsHost: 'push.example.com'", "wssPort: 443", "forceTLS: true"},
			"Node":      {"host: 'push.example.com'", "port: '443'", "useTLS: true"},
			"Go":        {`Host:   "push.example.com:443"`, "Secure: true"},
			"PHP":       {"'host' => 'push.example.com'", "'port' => 443", "'scheme' => 'https'", "'useTLS' => true"},
			"Laravel":   {"PUSHER_HOST=push.example.com\n", "PUSHER_PORT=443\n", "PUSHER_SCHEME=https\n"},
			"Ruby":      {"Pusher.port = 443", "Pusher.encrypted = true"},
		}},
		{"ipv6", Endpoint{Host: "[::1]", Port: 7001}, map[string][]string{
			"pusher-js": {"wsHost: '[::1]'"},
			"Go":        {`Host:   "[::1]:7001"`},
			"Laravel":   {"PUSHER_HOST=[::1]\n"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := byName(t, For(app, tc.ep))
			for tab, wants := range tc.want {
				for _, w := range wants {
					if !strings.Contains(got[tab], w) {
						t.Errorf("%s lacks %q:\n%s", tab, w, got[tab])
					}
				}
			}
			for tab, code := range got {
				if strings.Contains(code, "<no value>") || strings.Contains(code, "{{") {
					t.Errorf("%s has an unfilled field:\n%s", tab, code)
				}
			}
		})
	}
}

// TestQuoting: credentials that are not plain (an imported app's) stay
// inside their string literals.
func TestQuoting(t *testing.T) {
	t.Parallel()
	got := byName(t, For(App{ID: "a'b", Key: `k\ey`, Secret: `s"e c`}, Endpoint{Host: "h", Port: 1}))
	for tab, w := range map[string]string{
		"Node":    `appId: 'a\'b'`,
		"PHP":     `new Pusher\Pusher('k\\ey', 's"e c', 'a\'b', [`,
		"Go":      `Secret: "s\"e c"`,
		"Laravel": "PUSHER_APP_SECRET='s\"e c'\n",
		"Ruby":    `Pusher.key = 'k\\ey'`,
	} {
		if !strings.Contains(got[tab], w) {
			t.Errorf("%s lacks %q:\n%s", tab, w, got[tab])
		}
	}
}

// TestGoSnippetParses: the Go snippet is valid Go (its import at the top,
// the rest in a function).
func TestGoSnippetParses(t *testing.T) {
	t.Parallel()
	code := byName(t, For(App{ID: "1", Key: "k", Secret: "s"}, Endpoint{Host: "h", Port: 1, TLS: true}))["Go"]
	imp, body, ok := strings.Cut(code, "\n\n")
	if !ok {
		t.Fatalf("no blank line after the import:\n%s", code)
	}
	src := "package p\n" + imp + "\nfunc f() error {\n" + body + "\nreturn err\n}\n"
	if _, err := parser.ParseFile(token.NewFileSet(), "snippet.go", src, 0); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	good := []struct {
		host, port, tls string
		want            Endpoint
	}{
		{"127.0.0.1", "6001", "false", Endpoint{"127.0.0.1", 6001, false}},
		{"push.example.com", "443", "true", Endpoint{"push.example.com", 443, true}},
		{"[::1]", "1", "", Endpoint{"[::1]", 1, false}},
		{"localhost", "65535", "false", Endpoint{"localhost", 65535, false}},
	}
	for _, tc := range good {
		got, err := ParseEndpoint(tc.host, tc.port, tc.tls)
		if err != nil || got != tc.want {
			t.Errorf("ParseEndpoint(%q, %q, %q) = %+v, %v; want %+v", tc.host, tc.port, tc.tls, got, err, tc.want)
		}
	}
	bad := []struct{ host, port, tls, want string }{
		{"", "6001", "", "host"},
		{"a'b", "6001", "", "host"},
		{"a b", "6001", "", "host"},
		{"evil.com/x", "6001", "", "host"},
		{"::1", "6001", "", "host"},
		{"[nope]", "6001", "", "host"},
		{"-a.com", "6001", "", "host"},
		{"a..com", "6001", "", "host"},
		{strings.Repeat("a.", 130), "6001", "", "host"},
		{"h", "0", "", "port"},
		{"h", "65536", "", "port"},
		{"h", "x", "", "port"},
		{"h", "", "", "port"},
		{"h", "1", "yes", "tls"},
	}
	for _, tc := range bad {
		_, err := ParseEndpoint(tc.host, tc.port, tc.tls)
		if !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), ": "+tc.want+" ") {
			t.Errorf("ParseEndpoint(%q, %q, %q) = %v; want an error about %s", tc.host, tc.port, tc.tls, err, tc.want)
		}
	}
}

func TestHostForURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"::1": "[::1]", "[::1]": "[::1]", "127.0.0.1": "127.0.0.1", "h.example": "h.example"} {
		if got := HostForURL(in); got != want {
			t.Errorf("HostForURL(%q) = %q, want %q", in, got, want)
		}
	}
}
