package server

import (
	"html/template"
	"net/http"
)

var homeTmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pixiu</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:720px;margin:3em auto;padding:0 1em;color:#1d2330}
code{background:#f2f4f8;padding:.1em .3em;border-radius:4px}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #e3e6ec;text-align:left}</style>
</head><body>
<h1>Pixiu</h1>
<p>A self-hosted realtime push server that speaks the Pusher Channels protocol. Point any Pusher client at
<code>ws://{{.Host}}/app/&lt;key&gt;</code> and any Pusher server SDK at <code>http://{{.Host}}</code>.</p>
{{if .Demo}}<h2>Demo</h2><ul><li><a href="/demo/market">Live market</a></li><li><a href="/demo/trade">Trade form</a></li></ul>
<p>The demo uses app <code>{{.DemoApp}}</code>.</p>{{end}}
<h2>Apps</h2><table><tr><th>id</th><th>key</th><th>name</th></tr>
{{range .Apps}}<tr><td><code>{{.ID}}</code></td><td><code>{{.Key}}</code></td><td>{{.Name}}</td></tr>{{end}}</table>
</body></html>`))

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	list := s.apps.List()
	demoApp := ""
	if len(list) > 0 {
		demoApp = list[0].ID + " (key " + list[0].Key + ")"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homeTmpl.Execute(w, map[string]any{"Host": r.Host, "Apps": list, "Demo": s.demoEnabled(), "DemoApp": demoApp})
}

func (s *Server) demoEnabled() bool { return false }
