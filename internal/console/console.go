package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/reqid"
	"github.com/pixiu-io/pixiu/internal/store"
	"github.com/pixiu-io/pixiu/internal/usage"
)

//go:embed assets
var assets embed.FS

// Options configure the console. Zero values mean the documented default.
type Options struct {
	Store *store.Store   // required: apps, the password hash and the session key
	Apps  *apps.Registry // required: every app the server serves (config + store)
	Hub   *hub.Hub       // required: publishing and channel lists
	Usage *usage.Counter // required: messages and connections
	Tap   *Tap           // required: the debug stream's source
	Log   *slog.Logger   // default: discard

	// AppsChanged is called after the console changed an app in the store;
	// it reloads the registry so the change takes effect at once.
	AppsChanged func(ctx context.Context) error
	// Admit checks and counts a publish against the app's daily quota, as for
	// the REST API; a *usage.QuotaError it returns becomes a 403.
	Admit func(ctx context.Context, app *apps.App, messages int) error

	// Password is the admin password (config or PIXIU_CONSOLE_PASSWORD).
	// When empty, the password is the store's: Start generates one on the
	// first start, stores its hash and logs the password once.
	Password string
	// TrustedProxies are the addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For is believed for sign-in throttling. Default:
	// none (the peer address is the client).
	TrustedProxies []string
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration

	// The event creator's limits, as the REST API's (protocol.PublishLimits).
	MaxEventBytes     int // default 10 KiB
	MaxChannelNameLen int // default 200
	MaxEventNameLen   int // default 200

	Now func() time.Time // default time.Now
}

// Console is the web console's HTTP handler. It is safe for concurrent use.
type Console struct {
	opts         Options
	log          *slog.Logger
	mux          *http.ServeMux
	page         *template.Template
	assetVersion string

	auth   *authenticator
	limits protocol.PublishLimits // the event creator's

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: ends every debug stream

	published atomic.Int64 // events the event creator published (Published)
}

// Published returns how many events the event creator has published since
// the console started.
func (c *Console) Published() int64 { return c.published.Load() }

// New prepares the console: it loads or creates the session key in the
// store. Sign-in works once Start has run.
func New(ctx context.Context, opts Options) (*Console, error) {
	if opts.Store == nil || opts.Apps == nil || opts.Hub == nil || opts.Usage == nil || opts.Tap == nil {
		return nil, errors.New("console: Store, Apps, Hub, Usage and Tap are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.AppsChanged == nil {
		opts.AppsChanged = func(context.Context) error { return nil }
	}
	if opts.Admit == nil {
		opts.Admit = func(context.Context, *apps.App, int) error { return nil }
	}
	c := &Console{opts: opts, log: opts.Log.With("component", "console"), closed: make(chan struct{}),
		limits: protocol.PublishLimits{MaxEventNameLen: opts.MaxEventNameLen, MaxEventBytes: opts.MaxEventBytes,
			MaxChannels: 1, MaxChannelNameLen: opts.MaxChannelNameLen}}
	var err error
	if c.auth, err = newAuthenticator(ctx, opts, c.log); err != nil {
		return nil, err
	}
	if c.page, err = template.ParseFS(assets, "assets/index.html"); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.assetVersion = versionOf(assets)
	c.routes()
	return c, nil
}

// Start is called once the server is listening (its port bound): on the
// first start it generates the admin password, stores its hash and logs the
// password, so that a start that fails (port in use) does not consume the
// one-time password. Until Start, sign-ins are answered 503.
func (c *Console) Start(ctx context.Context) error {
	return c.auth.start(ctx)
}

// versionOf hashes the embedded assets, so their URLs change with them and
// browsers may cache them for long.
func versionOf(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(fsys, p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (c *Console) routes() {
	m := http.NewServeMux()
	sub, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/console/assets/", http.FileServerFS(sub))
	m.Handle("GET /console/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	m.HandleFunc("GET /console/{$}", c.index)

	m.Handle("POST /console/api/login", c.handle(c.login))
	m.Handle("POST /console/api/logout", c.mutating(c.logout))
	m.Handle("POST /console/api/logout-everywhere", c.mutating(c.logoutEverywhere))
	m.Handle("GET /console/api/apps", c.reading(c.listApps))
	m.Handle("POST /console/api/apps", c.mutating(c.createApp))
	m.Handle("GET /console/api/apps/{id}", c.reading(c.getApp))
	m.Handle("PATCH /console/api/apps/{id}", c.mutating(c.updateApp))
	m.Handle("POST /console/api/apps/{id}/rotate-secret", c.mutating(c.rotateSecret))
	m.Handle("DELETE /console/api/apps/{id}", c.mutating(c.deleteApp))
	m.Handle("GET /console/api/apps/{id}/usage", c.reading(c.appUsage))
	m.Handle("GET /console/api/apps/{id}/snippets", c.reading(c.appSnippets))
	m.Handle("GET /console/api/apps/{id}/channels", c.reading(c.appChannels))
	m.Handle("POST /console/api/apps/{id}/events", c.mutating(c.sendEvent))
	m.Handle("GET /console/api/apps/{id}/stream", c.reading(c.stream))
	m.Handle("GET /console/api/apps/{id}/history", c.reading(c.channelHistory))
	m.Handle("/console/api/", c.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no such console API: %s %s", r.Method, r.URL.Path)
	}))
	c.mux = m
}

// ServeHTTP implements http.Handler for /console and everything below it.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "+
		"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.mux.ServeHTTP(w, r)
}

// Close ends the open debug streams; call it when the HTTP server shuts
// down, which otherwise waits for them. It is idempotent.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	data := struct {
		CSRF    string
		Version string
	}{Version: c.assetVersion}
	if s, err := c.auth.session(r); err == nil {
		data.CSRF = c.auth.csrfToken(s)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.page.Execute(w, data); err != nil {
		c.log.Debug("render console page", "err", err)
	}
}

// Error is a console API error: the status and message a browser sees, and
// per-field messages for invalid settings.
type Error struct {
	Status  int
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h, mapping its error to the wire.
func (c *Console) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := h(w, r); err != nil {
			c.writeError(w, r, err)
		}
	})
}

// reading requires a valid session.
func (c *Console) reading(h handlerFunc) http.Handler {
	return c.handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := c.auth.session(r); err != nil {
			return err
		}
		return h(w, r)
	})
}

// mutating requires a valid session and its CSRF token.
func (c *Console) mutating(h handlerFunc) http.Handler {
	return c.handle(func(w http.ResponseWriter, r *http.Request) error {
		s, err := c.auth.session(r)
		if err != nil {
			return err
		}
		if err := c.auth.checkCSRF(r, s); err != nil {
			return err
		}
		return h(w, r)
	})
}

// writeError maps err to the wire: *Error as is, anything else as a 500
// naming the request id, which the logged error carries too (internal text
// never reaches the browser).
func (c *Console) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ce *Error
	if !errors.As(err, &ce) {
		ref := reqid.From(r.Context())
		if ref == "" { // not behind reqid.Middleware (tests mounting the console alone)
			ref = reqid.New()
			r = r.WithContext(reqid.With(r.Context(), ref))
		}
		c.log.ErrorContext(r.Context(), "internal error", "err", err)
		ce = &Error{Status: http.StatusInternalServerError, Message: "internal server error (request id " + ref + ")"}
	}
	body := map[string]any{"error": ce.Message}
	if len(ce.Fields) > 0 {
		body["fields"] = ce.Fields
	}
	writeJSON(w, ce.Status, body)
}
