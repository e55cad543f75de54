package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/pusher"
)

// Trade is the data of every update event the demo publishes.
type Trade struct {
	Price  float64 `json:"price"`
	Amount float64 `json:"amount,omitempty"` // omitted when the form left it empty
	Side   string  `json:"side"`             // "buy" or "sell"
	Time   string  `json:"time"`             // RFC 3339, UTC, milliseconds
}

// Bounds of a trade's numbers: anything a float64 prints back exactly enough
// for a demo, and no exponent notation in the page.
const (
	maxPrice  = 1e12
	maxAmount = 1e12
	// maxFormBytes bounds the trade form body.
	maxFormBytes = 4 << 10
)

// tradeInput is the trade form as submitted.
type tradeInput struct {
	Price, Amount, Side string
}

// parse validates the form and returns the trade it describes at now.
func (in tradeInput) parse(now time.Time) (Trade, error) {
	t := Trade{Side: strings.ToLower(strings.TrimSpace(in.Side)), Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	var err error
	if t.Price, err = parseNumber("price", in.Price, maxPrice); err != nil {
		return Trade{}, err
	}
	if strings.TrimSpace(in.Amount) != "" {
		if t.Amount, err = parseNumber("amount", in.Amount, maxAmount); err != nil {
			return Trade{}, err
		}
	}
	switch t.Side {
	case "":
		t.Side = "buy"
	case "buy", "sell":
	default:
		return Trade{}, badRequest(fmt.Sprintf("side must be buy or sell, not %.20q", in.Side))
	}
	return t, nil
}

// parseNumber reads a positive decimal number no larger than max.
func parseNumber(field, s string, max float64) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, badRequest(field + " is required")
	}
	v, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0) { // a number, just far too large or small
		err = nil
	}
	if err != nil || math.IsNaN(v) || (math.IsInf(v, 0) && !strings.ContainsAny(s, "0123456789")) {
		return 0, badRequest(fmt.Sprintf("%s must be a number, not %.20q", field, s))
	}
	if v <= 0 {
		return 0, badRequest(field + " must be greater than 0")
	}
	if v > max {
		return 0, badRequest(fmt.Sprintf("%s must be at most %s", field, groupDigits(max)))
	}
	return v, nil
}

// groupDigits writes a whole number as people read it: 1e12 as
// 1,000,000,000,000 (not Go's %g, 1e+12).
func groupDigits(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// postTrade publishes the submitted trade and redirects back to the form. It
// does not wait for delivery: TriggerAsync only queues the event.
func (d *Handler) postTrade(w http.ResponseWriter, r *http.Request) error {
	if ok, wait := d.limit.allow(clientAddr(r), time.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return &Error{Status: http.StatusTooManyRequests, Message: fmt.Sprintf(
			"too many trades from your address: try again in %d s", secs)}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: "trade form too large"}
		}
		return badRequest("unreadable trade form")
	}
	if !csrfOK(r) {
		return &Error{Status: http.StatusForbidden, Message: "the trade form is missing its token or it has expired: reload the page and try again"}
	}
	if d.appKey() == "" {
		return &Error{Status: http.StatusServiceUnavailable, Message: NoAppMessage}
	}
	in := tradeInput{Price: r.PostForm.Get("price"), Amount: r.PostForm.Get("amount"), Side: r.PostForm.Get("side")}
	t, err := in.parse(time.Now())
	if err != nil {
		return &formError{err: err, input: in}
	}
	err = d.pub.TriggerAsync([]string{Channel}, Event, t, nil)
	switch {
	case errors.Is(err, pusher.ErrQueueFull):
		return &Error{Status: http.StatusServiceUnavailable, Message: "too many trades in flight, try again in a moment"}
	case errors.Is(err, pusher.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Message: "the server is shutting down"}
	case err != nil:
		return fmt.Errorf("publish trade: %w", err)
	}
	d.log.Debug("trade published", "channel", Channel, "price", t.Price, "side", t.Side)
	http.Redirect(w, r, "/demo/trade?ok=1", http.StatusSeeOther)
	return nil
}

// Error is a refused request: the status and the message the user sees.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Message: msg} }

// formError is a refused trade form, kept with its input so the form can be
// shown again filled in.
type formError struct {
	err   error
	input tradeInput
}

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// handlerFunc is a handler that returns its error; handle maps it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (d *Handler) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			d.writeError(w, r, err)
		}
	}
}

// writeError maps err to the wire: *Error with its status and message,
// anything else as a 500 whose cause is logged, never shown. Clients that
// accept JSON get {"error": message}; browsers get the trade form again with
// the message and their input.
func (d *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		d.log.Error("trade", "err", err)
		e = &Error{Status: http.StatusInternalServerError, Message: "the trade could not be published"}
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Message})
		return
	}
	data := d.data("trade")
	data.Error = e.Message
	data.CSRF = csrfToken(w, r)
	if fe, ok := errors.AsType[*formError](err); ok {
		data.Form = fe.input
	}
	d.render(w, e.Status, data)
}

// wantsJSON reports whether the client prefers JSON to HTML.
func wantsJSON(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}
