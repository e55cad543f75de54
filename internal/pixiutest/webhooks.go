package pixiutest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Webhook is one request a Receiver got.
type Webhook struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
	TimeMS int64
	Events []WebhookEvent
}

// WebhookEvent is one element of a webhook's "events" (protocol.md §7.2).
// Raw keeps the exact JSON object so tests can check field types.
type WebhookEvent struct {
	Name              string          `json:"name"`
	Channel           string          `json:"channel"`
	Event             string          `json:"event"`
	Data              *string         `json:"data"`
	SocketID          string          `json:"socket_id"`
	UserID            string          `json:"user_id"`
	SubscriptionCount *int            `json:"subscription_count"`
	Raw               json.RawMessage `json:"-"`
}

// Receiver is a webhook endpoint on 127.0.0.1 that records every request.
// By default it answers 200; Fail makes it answer 500 for a while. It is
// safe for concurrent use.
type Receiver struct {
	URL string
	srv *httptest.Server

	mu    sync.Mutex
	reqs  []Webhook // guarded by mu
	fails int       // guarded by mu: requests still to answer 500
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	return NewReceiverOn(t, "127.0.0.1:0")
}

// NewReceiverOn starts a receiver listening on addr.
func NewReceiverOn(t testing.TB, addr string) *Receiver {
	t.Helper()
	r := &Receiver{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener = ln
	r.srv.Start()
	r.URL = r.srv.URL + "/hook"
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	h := Webhook{Header: req.Header.Clone(), Body: b, Status: http.StatusOK}
	var p struct {
		TimeMS int64             `json:"time_ms"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &p); err == nil {
		h.TimeMS = p.TimeMS
		for _, raw := range p.Events {
			var e WebhookEvent
			_ = json.Unmarshal(raw, &e)
			e.Raw = raw
			h.Events = append(h.Events, e)
		}
	}
	r.mu.Lock()
	if r.fails > 0 {
		r.fails--
		h.Status = http.StatusInternalServerError
	}
	r.reqs = append(r.reqs, h)
	r.mu.Unlock()
	w.WriteHeader(h.Status)
}

// Fail makes the next n requests fail with 500.
func (r *Receiver) Fail(n int) {
	r.mu.Lock()
	r.fails = n
	r.mu.Unlock()
}

// Requests returns every request received so far, failed ones included.
func (r *Receiver) Requests() []Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Webhook(nil), r.reqs...)
}

// Delivered returns the requests answered 2xx, each batch id once.
func (r *Receiver) Delivered() []Webhook {
	var out []Webhook
	seen := map[string]bool{}
	for _, h := range r.Requests() {
		id := h.Header.Get("X-Pusher-Webhook-Id")
		if h.Status != http.StatusOK || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, h)
	}
	return out
}

// Events returns the events of the delivered requests, in order.
func (r *Receiver) Events() []WebhookEvent {
	var out []WebhookEvent
	for _, h := range r.Delivered() {
		out = append(out, h.Events...)
	}
	return out
}

// WaitEvents polls until f accepts the delivered events.
func (r *Receiver) WaitEvents(t testing.TB, f func([]WebhookEvent) error) []WebhookEvent {
	t.Helper()
	var evs []WebhookEvent
	WaitFor(t, WebhookWait, func() error {
		evs = r.Events()
		if err := f(evs); err != nil {
			return fmt.Errorf("%w; got %s", err, describe(evs))
		}
		return nil
	})
	return evs
}

// WebhookWait is how long WaitEvents waits.
const WebhookWait = 10 * time.Second

// Find returns the delivered events named name on channel.
func Find(evs []WebhookEvent, name, channel string) []WebhookEvent {
	var out []WebhookEvent
	for _, e := range evs {
		if e.Name == name && (channel == "" || e.Channel == channel) {
			out = append(out, e)
		}
	}
	return out
}

func describe(evs []WebhookEvent) string {
	s := fmt.Sprintf("%d events:", len(evs))
	for i, e := range evs {
		if i == 20 {
			return s + " …"
		}
		s += " " + string(e.Raw)
	}
	return s
}
