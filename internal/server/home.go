package server

import (
	"html/template"
	"net/http"

	"github.com/pixiu-io/pixiu/internal/apps"
)

var homeTmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pixiu</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:720px;margin:3em auto;padding:0 1em;color:#1d2330}
a{color:#3a5bd9}code{background:#f2f4f8;padding:.1em .3em;border-radius:4px}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #e3e6ec;text-align:left}
.demo{display:flex;gap:1em;margin:1em 0}.demo a{flex:1;display:block;padding:1em 1.2em;border:1px solid #e3e6ec;border-radius:10px;text-decoration:none;color:inherit}
.demo a:hover{border-color:#3a5bd9}.demo strong{display:block;color:#3a5bd9}.muted{color:#6b7385}</style>
</head><body>
<h1>Pixiu</h1>
<p>A self-hosted realtime push server that speaks the Pusher Channels protocol. Point any Pusher client at
<code>ws://{{.Host}}/app/&lt;key&gt;</code> and any Pusher server SDK at <code>http://{{.Host}}</code>.</p>
{{if .Console}}<p>Create and manage apps, and watch their events live, in the <a href="/console/" id="console-link">console</a>.</p>{{end}}
{{if .Demo}}<h2>Exchange demo</h2>
<p>Open both pages in two windows, place a trade, and watch the market move live.</p>
<div class="demo">
<a href="/demo/market" id="demo-market"><strong>Live market</strong><span class="muted">latest price, chart and last trades, over pusher-js</span></a>
<a href="/demo/trade" id="demo-trade"><strong>Trade form</strong><span class="muted">publishes <code>update</code> on <code>price_channel</code> through the Go SDK</span></a>
</div>
{{with .DemoApp}}<p>Both pages use app <code>{{.ID}}</code>: the market page connects with key <code>{{.Key}}</code>, and the trade
form publishes with that app's secret.</p>{{else}}<p>The demo has no app to publish as: it uses only the development app
or the app named by <code>demo_app_id</code>.</p>{{end}}{{end}}
{{with .DevApp}}<h2>Development app</h2>
<p>No app is configured, so Pixiu serves the development app <code>{{.ID}}</code> / <code>{{.Key}}</code> /
<code>{{.Secret}}</code>. Its secret is public: create your own app and this one goes away.</p>{{end}}
</body></html>`))

// home serves GET /: what Pixiu is and the demo's links. It lists no apps,
// except the development app of a setup that has nothing else (its
// credentials are public anyway).
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	var devApp *apps.App
	if list := s.apps.List(); len(list) == 1 && isDevApp(list[0]) {
		devApp = list[0]
	}
	data := map[string]any{"Host": r.Host, "Demo": s.demoEnabled(), "DevApp": devApp,
		"Console": s.cfg.Console.Enabled != nil && *s.cfg.Console.Enabled}
	if s.demoEnabled() {
		if a := s.demoApp(); a != nil {
			data["DemoApp"] = a
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homeTmpl.Execute(w, data)
}

// demoEnabled reports whether the exchange demo is on (config Demo, default true).
func (s *Server) demoEnabled() bool { return s.cfg.Demo == nil || *s.cfg.Demo }
