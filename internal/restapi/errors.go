package restapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/pixiu-io/pixiu/internal/reqid"
)

// Error is an API error with the status code and message a client sees.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

// handlerFunc is an HTTP handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// writeError maps err to the wire: *Error as is, anything else as a 500
// naming the request id, which the logged error carries too (internal text
// never reaches a client).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ref := reqid.From(r.Context())
		log.ErrorContext(r.Context(), "internal error", "err", err)
		ae = &Error{Status: http.StatusInternalServerError, Message: "internal server error (request id " + ref + ")"}
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal server error"}`)
	}
	writeRaw(w, status, b)
}

// emptyObject is the body of every plain success (protocol.md §6.1: 200 with a JSON body).
var emptyObject = []byte("{}")

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
