package demo

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/pusher"
)

// Channel and Event name what the demo publishes: every trade is an Event on
// Channel, with a Trade as its data.
const (
	Channel = "price_channel"
	Event   = "update"
)

// PusherJSCDN is the official pusher-js build the pages load when the binary
// carries no copy and none is installed.
const PusherJSCDN = "https://js.pusher.com/8.6.0/pusher.min.js"

// Where the demo serves its own pusher-js copy and its licences.
const (
	localPusherJS        = "/demo/vendor/pusher.min.js"
	localPusherJSNotices = "/demo/vendor/pusher.min.js.LICENSE.txt" // named in pusher.min.js's first line
	localPusherJSLicense = "/demo/vendor/pusher-js.LICENSE"
)

// PusherJS is a pusher-js browser build the demo serves itself.
type PusherJS struct {
	Script  []byte // dist/web/pusher.min.js; required
	Notices []byte // dist/web/pusher.min.js.LICENSE.txt; nil when absent
	License []byte // the package's licence (LICENCE); nil when absent
	Version string // the package's version; "" when unknown
	Source  string // where it came from, for the log
}

// Publisher publishes events the way an application does. *pusher.Client
// satisfies it. TriggerAsync must not wait for delivery: it queues the event
// and returns, failing only when the event is invalid or cannot be queued.
type Publisher interface {
	TriggerAsync(channels []string, event string, data any, opts *pusher.TriggerOptions) error
}

var _ Publisher = (*pusher.Client)(nil)

// Options configure the demo handler.
type Options struct {
	// Publisher sends the trades. Required.
	Publisher Publisher
	// AppKey returns the key of the app Publisher publishes as, which the
	// market page connects with, or "" when the demo has no app: the pages
	// then say so and trades are refused with 503 (NoAppMessage). It is
	// called on every request, so the app may come and go. Required.
	AppKey func() string
	// TradeRate and TradeBurst limit trades per client address: TradeBurst at
	// once, then TradeRate per second; past it POST /demo/trade answers 429.
	// Defaults 2 and 20.
	TradeRate  float64
	TradeBurst int
	// PusherJS is the pusher-js build to serve at /demo/vendor/pusher.min.js
	// (its licences beside it); the pages then use it. The server passes
	// EmbeddedPusherJS(). Default: none (PusherJSPath, then the CDN).
	PusherJS *PusherJS
	// PusherJSPath is the file path of pusher-js's browser build
	// (node_modules/pusher-js/dist/web/pusher.min.js), used when PusherJS is
	// nil. When the file can be read it is served like PusherJS (with the
	// licence files of that npm package); otherwise the pages load
	// PusherJSCDN. Default: none (the CDN).
	PusherJSPath string
	// Log receives the demo's log lines. Default: discarded.
	Log *slog.Logger
	// History, if set, returns the last trades kept in Channel's history
	// (issue 15), oldest first; the market page opens with them and
	// recovers from the last one's id. Default: none (the page starts empty).
	History func(ctx context.Context, limit int) ([]pusher.HistoryEvent, error)
}

//go:embed assets
var assets embed.FS

// pusherJSFiles is what `make build` (target embed-js) copied from the pinned
// npm package into pusherjs/ before compiling; only pusherjs/README.md when
// the binary was built without that step.
//
//go:embed pusherjs
var pusherJSFiles embed.FS

// EmbeddedPusherJS returns the pusher-js build carried by this binary, or nil
// when it was built without the JS step (a plain `go build`).
func EmbeddedPusherJS() *PusherJS {
	script, err := pusherJSFiles.ReadFile("pusherjs/pusher.min.js")
	if err != nil || len(script) == 0 {
		return nil
	}
	p := &PusherJS{Script: script, Source: "the copy built into the binary"}
	p.Notices, _ = pusherJSFiles.ReadFile("pusherjs/pusher.min.js.LICENSE.txt")
	p.License, _ = pusherJSFiles.ReadFile("pusherjs/pusher-js.LICENSE")
	if v, err := pusherJSFiles.ReadFile("pusherjs/VERSION"); err == nil {
		p.Version = strings.TrimSpace(string(v))
	}
	return p
}

// NoAppMessage is what the pages and a refused trade say when the demo has
// no app to publish as.
const NoAppMessage = "the demo has no app to publish as: it uses only the development app " +
	"(present while no other app exists) or the app named by demo_app_id"

// Handler serves the demo pages under /demo/. It is safe for concurrent use.
type Handler struct {
	pub      Publisher
	appKey   func() string
	limit    *limiter
	log      *slog.Logger
	pages    *template.Template
	pusherJS *PusherJS // the pusher-js build served locally; nil when the pages use the CDN
	loadedAt time.Time // Last-Modified of pusherJS's files
	mux      *http.ServeMux
	history  func(ctx context.Context, limit int) ([]pusher.HistoryEvent, error) // nil: none
}

// New returns the demo handler, to be mounted at "/demo/". It reads
// Options.PusherJSPath (when needed) once, here, and logs where the pages
// will load pusher-js from.
func New(opts Options) (*Handler, error) {
	if opts.Publisher == nil {
		return nil, errors.New("demo: options: Publisher is required")
	}
	if opts.AppKey == nil {
		return nil, errors.New("demo: options: AppKey is required")
	}
	if opts.TradeRate <= 0 {
		opts.TradeRate = 2
	}
	if opts.TradeBurst <= 0 {
		opts.TradeBurst = 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse pages: %w", err)
	}
	d := &Handler{pub: opts.Publisher, appKey: opts.AppKey, limit: newLimiter(opts.TradeRate, opts.TradeBurst),
		log:   opts.Log.With("component", "demo"),
		pages: pages, mux: http.NewServeMux(), history: opts.History}
	d.loadPusherJS(opts.PusherJS, opts.PusherJSPath)
	d.routes()
	return d, nil
}

// loadPusherJS picks the pusher-js build to serve: p, else the file at path;
// any failure means the CDN. It logs the choice.
func (d *Handler) loadPusherJS(p *PusherJS, path string) {
	d.loadedAt = time.Now()
	if p != nil && len(p.Script) > 0 {
		d.pusherJS = p
		d.log.Info("pusher-js: serving "+p.Source, "url", localPusherJS, "version", p.Version)
		return
	}
	if path == "" {
		d.log.Info("pusher-js: not built into this binary (build with `make build`) and no local copy configured, "+
			"pages load it from the CDN", "url", PusherJSCDN)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("pusher-js: cannot read the local copy, pages load it from the CDN", "path", path, "err", err)
			return
		}
		d.log.Info("pusher-js: not built into this binary (build with `make build`) and not installed (run `npm ci`), "+
			"pages load it from the CDN", "path", path, "url", PusherJSCDN)
		return
	}
	// The npm package's layout: dist/web/pusher.min.js{,.LICENSE.txt} and
	// LICENCE two levels up. Missing licence files are served as 404.
	d.pusherJS = &PusherJS{Script: b, Source: "the local copy " + path}
	d.pusherJS.Notices, _ = os.ReadFile(path + ".LICENSE.txt")
	d.pusherJS.License, _ = os.ReadFile(filepath.Join(filepath.Dir(path), "..", "..", "LICENCE"))
	d.log.Info("pusher-js: serving the local copy", "path", path, "url", localPusherJS)
}

func (d *Handler) routes() {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	d.mux.Handle("GET /demo/{$}", http.RedirectHandler("/demo/market", http.StatusFound))
	d.mux.HandleFunc("GET /demo/market", d.page("market"))
	d.mux.HandleFunc("GET /demo/trade", d.page("trade"))
	d.mux.HandleFunc("POST /demo/trade", d.handle(d.postTrade))
	d.mux.HandleFunc("GET /demo/trades", d.trades)
	d.mux.HandleFunc("GET "+localPusherJS, d.serveVendor("text/javascript; charset=utf-8", func(p *PusherJS) []byte { return p.Script }))
	d.mux.HandleFunc("GET "+localPusherJSNotices, d.serveVendor("text/plain; charset=utf-8", func(p *PusherJS) []byte { return p.Notices }))
	d.mux.HandleFunc("GET "+localPusherJSLicense, d.serveVendor("text/plain; charset=utf-8", func(p *PusherJS) []byte { return p.License }))
	d.mux.Handle("GET /demo/static/", http.StripPrefix("/demo/static/", http.FileServerFS(staticOnly{static})))
}

// ServeHTTP implements http.Handler.
func (d *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// pageData is what every page template sees.
type pageData struct {
	Page     string // "market" or "trade"
	AppKey   string // "" when the demo has no app (NoApp says why)
	NoApp    string
	CSRF     string // trade page: the form's token
	Channel  string
	Event    string
	PusherJS string // URL of the pusher-js script
	// PusherJSLocal: PusherJS is this server's copy, not the CDN's (the
	// market page's footer says which).
	PusherJSLocal bool
	// Trade page only.
	OK    bool       // the previous trade was published
	Error string     // why the submitted trade was refused
	Form  tradeInput // the refused input, to fill the form again
}

func (d *Handler) data(page string) pageData {
	src := PusherJSCDN
	if d.pusherJS != nil {
		src = localPusherJS
	}
	data := pageData{Page: page, AppKey: d.appKey(), Channel: Channel, Event: Event, PusherJS: src,
		PusherJSLocal: d.pusherJS != nil, Form: tradeInput{Side: "buy", Amount: "1"}}
	if data.AppKey == "" {
		data.NoApp = NoAppMessage
	}
	return data
}

func (d *Handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data := d.data(name)
		data.OK = r.URL.Query().Get("ok") == "1"
		if name == "trade" {
			data.CSRF = csrfToken(w, r)
		}
		d.render(w, http.StatusOK, data)
	}
}

// render writes a page. Pages are small, so they are rendered into memory
// first: a template failure becomes a clean 500 instead of half a page.
func (d *Handler) render(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := d.pages.ExecuteTemplate(&buf, data.Page+".html", data); err != nil {
		d.log.Error("render page", "page", data.Page, "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// contentSecurityPolicy allows the page's own files, pusher-js from the CDN
// and WebSocket connections back to the page's origin (pusher-js connects to
// location.host; ws: and wss: cover it whatever the scheme).
const contentSecurityPolicy = "default-src 'self'; script-src 'self' https://js.pusher.com; " +
	"connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// serveVendor serves one file of the local pusher-js build (404 when the
// pages use the CDN or the build lacks that file).
func (d *Handler) serveVendor(contentType string, file func(*PusherJS) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		if d.pusherJS != nil {
			b = file(d.pusherJS)
		}
		if b == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeContent(w, r, path.Base(r.URL.Path), d.loadedAt, bytes.NewReader(b))
	}
}

// staticOnly serves the embedded CSS and JavaScript, not the page templates
// (which are only meaningful rendered) nor directory listings.
type staticOnly struct{ fs.FS }

func (s staticOnly) Open(name string) (fs.File, error) {
	switch path.Ext(name) {
	case ".css", ".js", ".svg":
		return s.FS.Open(name)
	}
	return nil, fs.ErrNotExist
}
