// Package snippets writes the getting-started code a user pastes into an
// application: pusher-js in the browser, the Node, Go, PHP and Ruby server
// SDKs, and Laravel (.env, config/broadcasting.php and resources/js/echo.js),
// with an app's credentials and the server's address filled in.
//
// It is the one copy of these templates: the console's Getting started tab
// (through its JSON API) and `pixiu apps show` both print For's result. It is
// pure: no I/O, no state.
package snippets

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/template"
)

// App is the credentials a snippet carries.
type App struct {
	ID, Key, Secret string
}

// Endpoint is where clients reach the server.
type Endpoint struct {
	// Host as it appears in a URL: a name, an IPv4 address or a bracketed
	// IPv6 address ("[::1]"). Check it with ParseEndpoint when it comes from
	// a client.
	Host string
	Port int
	// TLS means the port speaks https:// and wss:// only.
	TLS bool
}

// Scheme is "https" with TLS, else "http".
func (e Endpoint) Scheme() string {
	if e.TLS {
		return "https"
	}
	return "http"
}

// Snippet is one tab of getting-started code.
type Snippet struct {
	Name string `json:"name"` // the tab: pusher-js, Node, Go, PHP, Laravel, Ruby
	Code string `json:"code"`
}

// MaxHostLen bounds a host name (RFC 1035's 253, plus IPv6 brackets).
const MaxHostLen = 255

// ErrEndpoint is wrapped by ParseEndpoint's errors.
var ErrEndpoint = errors.New("snippets: invalid endpoint")

// ParseEndpoint checks an endpoint given as text (the console's query
// parameters): host is a DNS name, an IPv4 address or a bracketed IPv6
// address; port is 1–65535; tls is "true" or "false" ("" is false).
func ParseEndpoint(host, port, tls string) (Endpoint, error) {
	var ep Endpoint
	if !validHost(host) {
		return ep, fmt.Errorf("%w: host %q: want a host name, an IPv4 address or a bracketed IPv6 address (at most %d characters)",
			ErrEndpoint, clip(host), MaxHostLen)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return ep, fmt.Errorf("%w: port %q: want 1 to 65535", ErrEndpoint, clip(port))
	}
	var t bool
	switch tls {
	case "true":
		t = true
	case "false", "":
	default:
		return ep, fmt.Errorf("%w: tls %q: want true or false", ErrEndpoint, clip(tls))
	}
	return Endpoint{Host: host, Port: p, TLS: t}, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > MaxHostLen {
		return false
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		ip := net.ParseIP(h[1 : len(h)-1])
		return ip != nil && strings.Contains(h, ":")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// HostForURL brackets an IPv6 address, so host can go into a URL.
func HostForURL(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") && net.ParseIP(host) != nil {
		return "[" + host + "]"
	}
	return host
}

// For returns the snippets for app on ep, in the order the console shows
// them.
func For(app App, ep Endpoint) []Snippet {
	data := struct {
		App
		Endpoint
	}{app, ep}
	out := make([]Snippet, 0, len(tabs))
	for _, tab := range tabs {
		var b strings.Builder
		if err := tab.tmpl.Execute(&b, data); err != nil {
			panic("snippets: " + tab.name + ": " + err.Error()) // the templates are fixed: a test would have failed
		}
		out = append(out, Snippet{Name: tab.name, Code: b.String()})
	}
	return out
}

// funcs quote a value for the templates: sq as a single-quoted string
// literal of JavaScript, PHP and Ruby (backslash and quote escaped), gq as a
// Go string, env as a .env value (bare when plain, else single-quoted). They
// are constant.
var funcs = template.FuncMap{
	"sq": func(s string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	},
	"gq": strconv.Quote,
	"env": func(s string) string {
		if s != "" && strings.IndexFunc(s, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:/@[]-", c))
		}) < 0 {
			return s
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	},
	"hostport": func(ep Endpoint) string { return ep.Host + ":" + strconv.Itoa(ep.Port) },
}

type tab struct {
	name string
	tmpl *template.Template
}

// tabs are parsed once; they are constant.
var tabs = func() []tab {
	var out []tab
	for _, t := range [][2]string{
		{"pusher-js", pusherJS}, {"Node", node}, {"Go", goSDK}, {"PHP", php}, {"Laravel", laravel}, {"Ruby", ruby},
	} {
		out = append(out, tab{t[0], template.Must(template.New(t[0]).Funcs(funcs).Parse(t[1]))})
	}
	return out
}()

const pusherJS = `<script src="https://js.pusher.com/8.4.0/pusher.min.js"></script>
<script>
  const pusher = new Pusher({{sq .Key}}, {
    cluster: 'mt1', // required by pusher-js 8, ignored by Pixiu
    wsHost: {{sq .Host}},
    wsPort: {{.Port}},
    wssPort: {{.Port}},
    forceTLS: {{.TLS}},
    enabledTransports: ['ws', 'wss'],
  });
  const channel = pusher.subscribe('my-channel');
  channel.bind('my-event', (data) => console.log(data));
</script>`

const node = `// npm install pusher
const Pusher = require('pusher');

const pusher = new Pusher({
  appId: {{sq .ID}},
  key: {{sq .Key}},
  secret: {{sq .Secret}},
  host: {{sq .Host}},
  port: '{{.Port}}',
  useTLS: {{.TLS}},
});

pusher.trigger('my-channel', 'my-event', { message: 'hello world' });`

const goSDK = `// go get github.com/pixiu-io/pixiu/pusher
import "github.com/pixiu-io/pixiu/pusher"

// the same API as github.com/pusher/pusher-http-go/v5
client := pusher.Client{
	AppID:  {{gq .ID}},
	Key:    {{gq .Key}},
	Secret: {{gq .Secret}},
	Host:   {{gq (hostport .Endpoint)}},
	Secure: {{.TLS}},
}
err := client.Trigger("my-channel", "my-event",
	map[string]string{"message": "hello world"})`

const php = `<?php
// composer require pusher/pusher-php-server
require __DIR__ . '/vendor/autoload.php';

$pusher = new Pusher\Pusher({{sq .Key}}, {{sq .Secret}}, {{sq .ID}}, [
    'host' => {{sq .Host}},
    'port' => {{.Port}},
    'scheme' => '{{.Scheme}}',
    'useTLS' => {{.TLS}},
]);

$pusher->trigger('my-channel', 'my-event', ['message' => 'hello world']);`

// laravel is Laravel 11's pusher connection as `php artisan
// install:broadcasting` writes it, with the .env it reads and the Echo
// setup that reads the VITE_ variables.
const laravel = `# .env
BROADCAST_CONNECTION=pusher
PUSHER_APP_ID={{env .ID}}
PUSHER_APP_KEY={{env .Key}}
PUSHER_APP_SECRET={{env .Secret}}
PUSHER_HOST={{env .Host}}
PUSHER_PORT={{.Port}}
PUSHER_SCHEME={{.Scheme}}
PUSHER_APP_CLUSTER=mt1

VITE_PUSHER_APP_KEY="${PUSHER_APP_KEY}"
VITE_PUSHER_HOST="${PUSHER_HOST}"
VITE_PUSHER_PORT="${PUSHER_PORT}"
VITE_PUSHER_SCHEME="${PUSHER_SCHEME}"
VITE_PUSHER_APP_CLUSTER="${PUSHER_APP_CLUSTER}"

// config/broadcasting.php, in 'connections' (Laravel 11's, unchanged)
'pusher' => [
    'driver' => 'pusher',
    'key' => env('PUSHER_APP_KEY'),
    'secret' => env('PUSHER_APP_SECRET'),
    'app_id' => env('PUSHER_APP_ID'),
    'options' => [
        'cluster' => env('PUSHER_APP_CLUSTER'),
        'host' => env('PUSHER_HOST') ?: 'api-'.env('PUSHER_APP_CLUSTER', 'mt1').'.pusher.com',
        'port' => env('PUSHER_PORT', 443),
        'scheme' => env('PUSHER_SCHEME', 'https'),
        'encrypted' => true,
        'useTLS' => env('PUSHER_SCHEME', 'https') === 'https',
    ],
],

// resources/js/echo.js (npm install laravel-echo pusher-js)
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

window.Pusher = Pusher;

window.Echo = new Echo({
    broadcaster: 'pusher',
    key: import.meta.env.VITE_PUSHER_APP_KEY,
    cluster: import.meta.env.VITE_PUSHER_APP_CLUSTER,
    wsHost: import.meta.env.VITE_PUSHER_HOST,
    wsPort: import.meta.env.VITE_PUSHER_PORT ?? 80,
    wssPort: import.meta.env.VITE_PUSHER_PORT ?? 443,
    forceTLS: (import.meta.env.VITE_PUSHER_SCHEME ?? 'https') === 'https',
    enabledTransports: ['ws', 'wss'],
});

// An event: class OrderShipped implements ShouldBroadcast, on new Channel('orders')
window.Echo.channel('orders').listen('OrderShipped', (e) => console.log(e));`

const ruby = `# gem install pusher
require 'pusher'

Pusher.app_id = {{sq .ID}}
Pusher.key = {{sq .Key}}
Pusher.secret = {{sq .Secret}}
Pusher.host = {{sq .Host}}
Pusher.port = {{.Port}}
Pusher.encrypted = {{.TLS}}

Pusher.trigger('my-channel', 'my-event', { message: 'hello world' })`
