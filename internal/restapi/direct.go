package restapi

import (
	"bytes"
	"context"
	"net/http"

	"github.com/pixiu-io/pixiu/internal/reqid"
)

// Direct answers one REST request that a transport parsed itself (the event
// loops serve keep-alive REST connections without a net/http server): it
// runs the very same handlers through a minimal request/response pair and
// returns the status, headers and body they wrote. requestID is the
// request's X-Request-Id header ("" if none); the answer's header carries
// the id used (the transport must send it).
func (a *API) Direct(ctx context.Context, method, requestURI, requestID string, body []byte) (int, http.Header, []byte) {
	r, err := http.NewRequestWithContext(ctx, method, requestURI, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadRequest, http.Header{"Content-Type": {"application/json"}, reqid.Header: {reqid.New()}},
			[]byte(`{"error":"malformed request line"}`)
	}
	r.RequestURI = requestURI
	if requestID != "" {
		r.Header.Set(reqid.Header, requestID)
	}
	w := &directWriter{header: make(http.Header, 2)}
	a.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.header, w.body
}

// directWriter collects what a handler writes.
type directWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *directWriter) Header() http.Header { return w.header }

func (w *directWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *directWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
