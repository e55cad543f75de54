// Package pixiutest starts a real Pixiu server on a loopback port and talks
// to it: a minimal Pusher WebSocket client, a signed REST client and a
// polling helper. It is imported only by tests.
package pixiutest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/server"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// Server is a started server.
type Server struct {
	*server.Server
	Addr string // host:port
	App  apps.App
}

// Start runs a server on 127.0.0.1:0 with the default app as a config-file
// app (plus whatever mutate changes) and stops it when the test ends. App is
// the first config app, or the development app when mutate removed them all.
func Start(t testing.TB, mutate func(*config.Config)) *Server {
	t.Helper()
	return StartWithLog(t, mutate, nil)
}

// Config is the configuration Start runs a server with: 127.0.0.1 on a
// free port, no demo, the default app as a config-file app, a store of its
// own, then mutate, then the defaults.
func Config(t testing.TB, mutate func(*config.Config)) config.Config {
	t.Helper()
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", 0
	f := false
	cfg.Demo = &f
	cfg.Apps = []apps.App{config.DefaultApp()}
	cfg.Cluster.DrainWindow = config.Duration(time.Millisecond)
	cfg.Console.Password = "pixiutest-console-password"     // no generated-password log line
	cfg.Store.Path = filepath.Join(t.TempDir(), "pixiu.db") // one store (and webhook outbox) per test
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.ApplyDefaults()
	cfg.Port = 0
	return cfg
}

// StartWithLog is Start with the server logging to log (nil: warnings and
// errors to stderr, debug with PIXIU_TEST_DEBUG set).
func StartWithLog(t testing.TB, mutate func(*config.Config), log *slog.Logger) *Server {
	t.Helper()
	cfg := Config(t, mutate)
	level := slog.LevelWarn
	if os.Getenv("PIXIU_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	app := config.DefaultApp() // the development app, stored when there is no other
	if len(cfg.Apps) > 0 {
		app = cfg.Apps[0]
	}
	return &Server{Server: srv, Addr: srv.Addr().String(), App: app}
}

// App returns an app with the default settings named id, edited by edit (if
// not nil), for a config's Apps.
func App(id, key, secret string, edit func(*apps.Settings)) apps.App {
	a := apps.App{ID: id, Key: key, Secret: secret, Settings: apps.Defaults()}
	a.Name = id
	if edit != nil {
		edit(&a.Settings)
	}
	return a
}

// Event is a decoded server→client frame; Data is raw JSON (a string for
// all events but pusher:error).
type Event struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
	ID      string          `json:"id"` // history id (issue 15)
}

// DataString returns Data unquoted when it is a JSON string.
func (e Event) DataString() string {
	var s string
	if json.Unmarshal(e.Data, &s) == nil {
		return s
	}
	return string(e.Data)
}

// Client is a minimal Pusher WebSocket client with a goroutine reading frames.
type Client struct {
	t        testing.TB
	conn     net.Conn
	rw       io.ReadWriter
	events   chan Event
	closed   chan struct{}
	CloseErr error // set when the read loop ends (wsutil.ClosedError carries the code)
	SocketID string
}

// Dial connects to /app/{key}?protocol=7 and waits for connection_established.
func Dial(t testing.TB, addr, key string) *Client {
	t.Helper()
	return DialTLS(t, addr, key, nil)
}

// DialTLS is Dial over wss:// with tc (ws:// when tc is nil).
func DialTLS(t testing.TB, addr, key string, tc *tls.Config) *Client {
	t.Helper()
	scheme := "ws://"
	if tc != nil {
		scheme = "wss://"
	}
	c := dialWith(t, ws.Dialer{TLSConfig: tc}, scheme+addr+"/app/"+key+"?protocol=7&client=go-test&version=1")
	e := c.Next()
	if e.Event != "pusher:connection_established" {
		t.Fatalf("first event = %s %s, want pusher:connection_established", e.Event, e.Data)
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(e.DataString()), &d); err != nil {
		t.Fatalf("connection_established data: %v", err)
	}
	c.SocketID = d.SocketID
	return c
}

// DialRaw connects to url without waiting for any event.
func DialRaw(t testing.TB, url string) *Client {
	t.Helper()
	return DialHeader(t, url, nil)
}

// DialHeader is DialRaw with extra handshake headers (e.g. Origin).
func DialHeader(t testing.TB, url string, h http.Header) *Client {
	t.Helper()
	d := ws.Dialer{}
	if h != nil {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	return dialWith(t, d, url)
}

func dialWith(t testing.TB, d ws.Dialer, url string) *Client {
	t.Helper()
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &Client{t: t, conn: conn, rw: conn, events: make(chan Event, 1024), closed: make(chan struct{})}
	if br != nil { // the server wrote frames right behind the handshake
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	go c.read()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *Client) read() {
	defer close(c.closed)
	for {
		b, err := wsutil.ReadServerText(c.rw)
		if err != nil {
			c.CloseErr = err
			return
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			c.CloseErr = fmt.Errorf("bad frame %q: %w", b, err)
			return
		}
		c.events <- e
	}
}

// Next returns the next event or fails the test after 5 s.
func (c *Client) Next() Event {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no event within 5s (close: %v)", c.closeErr())
	}
	return Event{}
}

// NextWithin returns the next event, or false after d without one.
func (c *Client) NextWithin(d time.Duration) (Event, bool) {
	select {
	case e := <-c.events:
		return e, true
	case <-time.After(d):
		return Event{}, false
	}
}

// Expect returns the next event named name, skipping others, or fails.
func (c *Client) Expect(name string) Event {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-c.events:
			if e.Event == name {
				return e
			}
		case <-deadline:
			c.t.Fatalf("no %s within 5s (close: %v)", name, c.closeErr())
			return Event{}
		}
	}
}

// Quiet fails if an event named name arrives within d.
func (c *Client) Quiet(name string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-c.events:
			if e.Event == name || name == "" {
				c.t.Fatalf("unexpected %s %s", e.Event, e.Data)
			}
		case <-deadline:
			return
		}
	}
}

// WaitClosed waits for the server to close the connection and returns the close code.
func (c *Client) WaitClosed() int {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatal("connection not closed within 5s")
	}
	var ce wsutil.ClosedError
	if errors.As(c.CloseErr, &ce) {
		return int(ce.Code)
	}
	return 0
}

// Send sends {"event":event,"channel":channel,"data":data}.
func (c *Client) Send(event, channel string, data any) {
	c.t.Helper()
	m := map[string]any{"event": event, "data": data}
	if channel != "" {
		m["channel"] = channel
	}
	b, _ := json.Marshal(m)
	c.SendRaw(b)
}

// SendRaw sends one text frame.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Subscribe subscribes (auth computed for private/presence channels with
// secret when given) and waits for subscription_succeeded.
func (c *Client) Subscribe(channel, key, secret, channelData string) Event {
	c.t.Helper()
	d := map[string]any{"channel": channel, "auth": ""}
	if secret != "" {
		d["auth"] = signature.ChannelAuth(key, secret, c.SocketID, channel, channelData)
	}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.Send("pusher:subscribe", "", d)
	for {
		e := c.Next()
		if e.Event == "pusher_internal:subscription_succeeded" && e.Channel == channel {
			return e
		}
		if e.Event == "pusher:error" || e.Event == "pusher:subscription_error" {
			c.t.Fatalf("subscribe %s: %s %s", channel, e.Event, e.Data)
		}
	}
}

// REST is a signed HTTP client for the REST API.
type REST struct {
	Addr            string
	ID, Key, Secret string
	// HTTP sends the requests over https when set (e.g. CA.HTTPClient);
	// nil: http.DefaultClient over http.
	HTTP *http.Client
}

// NewREST returns a REST client for the server's default app.
func (s *Server) REST() *REST {
	return &REST{Addr: s.Addr, ID: s.App.ID, Key: s.App.Key, Secret: s.App.Secret}
}

// Do sends a signed request and returns the status and body.
func (r *REST) Do(t testing.TB, method, path, query string, body any) (int, string) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if s, ok := body.(string); ok {
			b = []byte(s)
		} else if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	st, out, err := r.Send(method, path, query, b)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return st, out
}

// Send is Do without a test: for goroutines, which must not call t.Fatal.
func (r *REST) Send(method, path, query string, body []byte) (int, string, error) {
	q, err := parseQuery(query)
	if err != nil {
		return 0, "", err
	}
	q = signature.SignRequest(r.Key, r.Secret, method, path, q, body, time.Now())
	scheme, hc := "http://", http.DefaultClient
	if r.HTTP != nil {
		scheme, hc = "https://", r.HTTP
	}
	req, err := http.NewRequest(method, scheme+r.Addr+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(out)), nil
}

// Trigger publishes an event and fails unless the answer is 200.
func (r *REST) Trigger(t testing.TB, channels []string, event, data string) string {
	t.Helper()
	st, body := r.Do(t, "POST", "/apps/"+r.ID+"/events", "", map[string]any{"name": event, "channels": channels, "data": data})
	if st != 200 {
		t.Fatalf("trigger: %d %s", st, body)
	}
	return body
}

// WaitFor polls f until it returns nil or fails the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitClosedAfter closes the client's side and waits for its reader to stop.
func (c *Client) WaitClosedAfter(t testing.TB) error {
	t.Helper()
	_ = c.conn.Close()
	<-c.closed
	return c.CloseErr
}

// closeErr returns why the read loop ended, or nil while it runs.
func (c *Client) closeErr() error {
	select {
	case <-c.closed:
		return c.CloseErr
	default:
		return nil
	}
}

// CloseWith sends a close frame with code (the server echoes it and closes).
func (c *Client) CloseWith(code int) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), "")); err != nil {
		c.t.Fatalf("write close: %v", err)
	}
}
