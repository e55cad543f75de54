package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/httpwire"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/reqid"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// Options configure the API. Zero values mean the documented default.
type Options struct {
	Hub  *hub.Hub       // required
	Apps *apps.Registry // required
	Log  *slog.Logger

	MaxEventBytes     int           // data limit, default 10 KiB → 413
	MaxChannelsPerPub int           // default 100
	MaxBatchEvents    int           // default 10
	MaxEventNameLen   int           // default 200
	MaxChannelNameLen int           // default 200
	MaxBodyBytes      int64         // default httpwire.DefaultMaxBody (1 MiB) → 413
	MaxTimestampSkew  time.Duration // default 600 s
	MaxHistoryLimit   int           // largest history read (limit=), default 100
	Now               func() time.Time
	// Admit, if set, is asked before each publish (quotas); an *Error it
	// returns is sent to the client.
	Admit func(ctx context.Context, app *apps.App, messages int) error
	// OnError, if set, is told about every request refused with an error
	// (bad signature, disabled app, over quota, invalid body, …) with the
	// app id of its path, for the console's debug stream. It must be cheap
	// and must not block.
	OnError func(appID string, status int, message string)
}

// API is the REST API handler.
type API struct {
	opts   Options
	limits protocol.PublishLimits
	log    *slog.Logger
	mux    *http.ServeMux
	// errTooLarge refuses a body over MaxBodyBytes (413, then refuseBody).
	errTooLarge *Error
	published   atomic.Int64    // events the engine accepted (Published)
	routes      []*routeCounter // one per route, set by New (stats.go)
	unmatched   *routeCounter   // the 404 fallback's, also counts headBounds refusals
}

// Published returns how many events (a batch counts each) this API has
// published since it started.
func (a *API) Published() int64 { return a.published.Load() }

// New returns the API; mount it at the server root (it matches /apps/…).
func New(opts Options) *API {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&opts.MaxEventBytes, 10<<10)
	def(&opts.MaxChannelsPerPub, 100)
	def(&opts.MaxBatchEvents, 10)
	def(&opts.MaxEventNameLen, 200)
	def(&opts.MaxChannelNameLen, 200)
	def(&opts.MaxHistoryLimit, 100)
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = httpwire.DefaultMaxBody
	}
	if opts.MaxTimestampSkew <= 0 {
		opts.MaxTimestampSkew = 600 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{opts: opts, log: opts.Log.With("component", "restapi"), mux: http.NewServeMux(),
		limits: protocol.PublishLimits{MaxEventNameLen: opts.MaxEventNameLen, MaxEventBytes: opts.MaxEventBytes,
			MaxChannels: opts.MaxChannelsPerPub, MaxChannelNameLen: opts.MaxChannelNameLen},
		errTooLarge: errorf(http.StatusRequestEntityTooLarge, "Request body too large: the limit is "+strconv.FormatInt(opts.MaxBodyBytes, 10)+" bytes")}
	a.handle("POST /apps/{app_id}/events", a.events)
	a.handle("POST /apps/{app_id}/batch_events", a.batchEvents)
	a.handle("GET /apps/{app_id}/channels", a.channels)
	a.handle("GET /apps/{app_id}/channels/{channel_name}", a.channel)
	a.handle("GET /apps/{app_id}/channels/{channel_name}/users", a.users)
	a.handle("GET /apps/{app_id}/channels/{channel_name}/history", a.history)
	a.handle("POST /apps/{app_id}/users/{user_id}/terminate_connections", a.terminate)
	unmatched := &routeCounter{route: "unmatched"}
	a.routes = append(a.routes, unmatched)
	a.unmatched = unmatched
	a.mux.HandleFunc("/apps/", func(w http.ResponseWriter, r *http.Request) {
		unmatched.count(http.StatusNotFound)
		writeError(w, r, a.log, errorf(http.StatusNotFound, "Not found: "+r.Method+" "+r.URL.Path))
	})
	return a
}

// ServeHTTP implements http.Handler. Every request gets a request id
// (package reqid: kept from X-Request-Id when well formed, else generated),
// sent back in X-Request-Id and carried by its log lines.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := headBounds(r); e != nil {
		reqid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.unmatched.count(e.Status)
			w.Header().Set("Connection", "close")
			writeError(w, r, a.log, e)
		})).ServeHTTP(w, r)
		return
	}
	reqid.Middleware(a.mux).ServeHTTP(w, r)
}

// headBounds holds a request that net/http parsed to the request-line and
// header-count limits the event loops apply (httpwire.Parse): net/http
// bounds only the head's bytes.
func headBounds(r *http.Request) *Error {
	if n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto); n > httpwire.DefaultMaxLine {
		return errorf(http.StatusRequestURITooLong, "request line too long: the limit is "+strconv.Itoa(httpwire.DefaultMaxLine)+" bytes")
	}
	n := len(r.TransferEncoding) // net/http takes Host and Transfer-Encoding out of Header
	if r.Host != "" {
		n++
	}
	for _, v := range r.Header {
		n += len(v)
	}
	if n > httpwire.DefaultMaxHeaders {
		return errorf(http.StatusRequestHeaderFieldsTooLarge, "too many header fields: the limit is "+strconv.Itoa(httpwire.DefaultMaxHeaders))
	}
	return nil
}

type ctxKey struct{}

type request struct {
	app  *apps.App
	body []byte
}

func reqOf(r *http.Request) *request { return r.Context().Value(ctxKey{}).(*request) }

// handle registers h behind authentication (protocol.md §6.2).
// Each answer is counted by route and status (Requests).
func (a *API) handle(pattern string, h handlerFunc) {
	rc := &routeCounter{route: pattern}
	a.routes = append(a.routes, rc)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		req, err := a.authenticate(r)
		if err == nil {
			err = h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, req)))
		}
		status := statusOf(err)
		rc.count(status)
		if a.log.Enabled(r.Context(), slog.LevelDebug) {
			a.log.DebugContext(r.Context(), "rest request", "method", r.Method, "route", pattern,
				"status", status, "app_id", r.PathValue("app_id"))
		}
		if err != nil {
			a.reportError(r, err)
			if errors.Is(err, a.errTooLarge) {
				refuseBody(w, r, a.log, a.errTooLarge)
				return
			}
			writeError(w, r, a.log, err)
		}
	})
}

func (a *API) reportError(r *http.Request, err error) {
	if a.opts.OnError == nil {
		return
	}
	var ae *Error
	if !errors.As(err, &ae) {
		ae = &Error{Status: http.StatusInternalServerError, Message: "internal server error"}
	}
	a.opts.OnError(r.PathValue("app_id"), ae.Status, r.Method+" "+r.URL.Path+": "+ae.Message)
}

func (a *API) authenticate(r *http.Request) (*request, error) {
	app, err := a.opts.Apps.ByID(r.PathValue("app_id"))
	if err != nil {
		return nil, errorf(http.StatusNotFound, "Unknown app id: "+r.PathValue("app_id"))
	}
	if r.ContentLength > a.opts.MaxBodyBytes {
		return nil, a.errTooLarge // refused before reading a byte of it
	}
	body, err := readBody(r, a.opts.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, a.errTooLarge
		}
		return nil, errorf(http.StatusBadRequest, "Could not read request body")
	}
	q := r.URL.Query()
	now := a.opts.Now()
	err = signature.VerifyRequest(app.Key, app.Secret, r.Method, r.URL.EscapedPath(), q, body, now, a.opts.MaxTimestampSkew)
	if errors.Is(err, signature.ErrBadSignature) && r.URL.RawPath != "" {
		err = signature.VerifyRequest(app.Key, app.Secret, r.Method, r.URL.Path, q, body, now, a.opts.MaxTimestampSkew)
	}
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, err.Error())
	}
	if !app.Enabled {
		return nil, errorf(http.StatusForbidden, "Application disabled")
	}
	return &request{app: app, body: body}, nil
}

// event is one event of a publish or batch (protocol.md §6.3, §6.4).
type event struct {
	Name     string   `json:"name"`
	Data     *string  `json:"data"` // a string (protocol.md §6.3); JSON-encode objects first
	Channels []string `json:"channels"`
	Channel  string   `json:"channel"`
	SocketID string   `json:"socket_id"`
	Info     string   `json:"info"`
}

// validate checks an event (protocol.CheckEvent, the console's check too)
// and returns its channels and data string.
func (a *API) validate(e *event) ([]string, string, error) {
	channels := e.Channels
	if e.Channel != "" {
		channels = append(channels, e.Channel)
	}
	if problems := a.limits.CheckEvent(e.Name, e.Data, channels, e.SocketID); len(problems) > 0 {
		p := problems[0]
		if p.TooLarge {
			return nil, "", errorf(http.StatusRequestEntityTooLarge, p.Message)
		}
		return nil, "", errorf(http.StatusBadRequest, p.Message)
	}
	return dedupe(channels), *e.Data, nil
}

func dedupe(list []string) []string {
	if len(list) < 2 {
		return list
	}
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, c := range list {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	var e event
	if err := decodeBody(req.body, &e); err != nil {
		return err
	}
	channels, data, err := a.validate(&e)
	if err != nil {
		return err
	}
	messages := 1
	if e.Info != "" {
		messages = 2 // protocol.md §6.3: a publish with info counts twice
	}
	if a.opts.Admit != nil {
		if err := a.opts.Admit(r.Context(), req.app, messages); err != nil {
			return err
		}
	}
	if err := a.opts.Hub.Publish(r.Context(), req.app.ID, channels, e.Name, data, e.SocketID); err != nil {
		return errorf(http.StatusServiceUnavailable, "Publish failed: the cluster engine is unavailable")
	}
	a.published.Add(1)
	if e.Info == "" {
		writeRaw(w, http.StatusOK, emptyObject)
		return nil
	}
	infos := make(map[string]map[string]int, len(channels))
	for _, c := range channels {
		info, err := a.infoFor(r.Context(), req.app, c, e.Info)
		if err != nil {
			return err
		}
		infos[c] = info
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": infos})
	return nil
}

// infoFor returns the requested attributes of a channel for publish
// responses: user_count on presence, subscription_count elsewhere when the
// app enabled it.
func (a *API) infoFor(ctx context.Context, app *apps.App, name, attrs string) (map[string]int, error) {
	out := map[string]int{}
	ci, err := a.opts.Hub.Channel(ctx, app.ID, name)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "Channel information unavailable")
	}
	presence := protocol.ParseChannel(name).Kind == protocol.Presence
	for _, at := range strings.Split(attrs, ",") {
		switch strings.TrimSpace(at) {
		case "user_count":
			if presence {
				out["user_count"] = ci.UserCount
			}
		case "subscription_count":
			if !presence && app.SubscriptionCount {
				out["subscription_count"] = ci.SubscriptionCount
			}
		}
	}
	return out, nil
}

func (a *API) batchEvents(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	var body struct {
		Batch []event `json:"batch"`
	}
	if err := decodeBody(req.body, &body); err != nil {
		return err
	}
	if len(body.Batch) == 0 {
		return errorf(http.StatusBadRequest, "Missing batch: give {\"batch\": [events]}")
	}
	if len(body.Batch) > a.opts.MaxBatchEvents {
		return errorf(http.StatusBadRequest, "Batch too large: the limit is "+itoa(a.opts.MaxBatchEvents)+" events")
	}
	type item struct {
		channels []string
		data     string
	}
	items := make([]item, len(body.Batch))
	messages, withInfo := 0, false
	for i := range body.Batch {
		e := &body.Batch[i]
		if len(e.Channels) > 0 && e.Channel == "" && len(e.Channels) == 1 {
			e.Channel, e.Channels = e.Channels[0], nil
		}
		if e.Channel == "" || len(e.Channels) > 0 {
			return errorf(http.StatusBadRequest, "Batch event "+itoa(i)+": give exactly one \"channel\"")
		}
		chs, data, err := a.validate(e)
		if err != nil {
			var ae *Error
			errors.As(err, &ae)
			return errorf(ae.Status, "Batch event "+itoa(i)+": "+ae.Message)
		}
		items[i] = item{chs, data}
		messages++
		if e.Info != "" {
			messages++
			withInfo = true
		}
	}
	if a.opts.Admit != nil {
		if err := a.opts.Admit(r.Context(), req.app, messages); err != nil {
			return err
		}
	}
	for i, e := range body.Batch {
		if err := a.opts.Hub.Publish(r.Context(), req.app.ID, items[i].channels, e.Name, items[i].data, e.SocketID); err != nil {
			return errorf(http.StatusServiceUnavailable, "Publish failed: the cluster engine is unavailable")
		}
		a.published.Add(1)
	}
	if !withInfo {
		writeRaw(w, http.StatusOK, emptyObject)
		return nil
	}
	out := make([]map[string]int, len(body.Batch))
	for i, e := range body.Batch {
		out[i] = map[string]int{}
		if e.Info != "" {
			info, err := a.infoFor(r.Context(), req.app, e.Channel, e.Info)
			if err != nil {
				return err
			}
			out[i] = info
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": out})
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func attrs(q url.Values) []string {
	var out []string
	for _, a := range strings.Split(q.Get("info"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// bodyError explains a body that does not decode.
func bodyError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if strings.HasSuffix(te.Field, "data") {
			return "Event data must be a string (JSON-encode objects first)"
		}
		return "Invalid JSON body: field " + te.Field + " must be a " + te.Type.String()
	}
	return "Invalid JSON body: " + err.Error()
}

// preallocMax is the largest body read into one allocation of its
// Content-Length; a larger one is read into a buffer that grows with the
// bytes that arrive, so that a client declaring a large body and sending
// none (or waiting for 100 Continue) does not make the server allocate it.
const preallocMax = 64 << 10

// readBody reads the whole body, at most max bytes, in one allocation when
// the client sent a Content-Length (every SDK does) of at most preallocMax.
func readBody(r *http.Request, max int64) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, max)
	if n := r.ContentLength; n >= 0 && n <= max && n <= preallocMax {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}
