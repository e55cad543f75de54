package reqid_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/reqid"
)

func TestValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"abc", true}, {"0f8c2d1e-7a4b-4c3d-9e2f-123456789abc", true}, {"01HZX3K9Q.a_b:c-d", true},
		{strings.Repeat("a", 64), true}, {strings.Repeat("a", 65), false}, {"", false},
		{"a b", false}, {"a\r\nX-Evil: 1", false}, {"a;b", false}, {"é", false}, {"a/b", false},
	} {
		if got := reqid.Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	if id := reqid.New(); !reqid.Valid(id) || len(id) != 24 || id == reqid.New() {
		t.Errorf("New() = %q: want 24 valid, distinct characters", id)
	}
	if got := reqid.Accept("bad id"); got == "bad id" || !reqid.Valid(got) {
		t.Errorf("Accept(bad) = %q", got)
	}
}

func TestMiddlewareAndHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(reqid.NewHandler(slog.NewTextHandler(&buf, nil))).With("component", "x")
	h := reqid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "served")
		// A nested middleware keeps the id.
		reqid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r2 *http.Request) {
			if reqid.From(r2.Context()) != reqid.From(r.Context()) {
				t.Errorf("nested middleware changed the id")
			}
		})).ServeHTTP(w, r)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(reqid.Header, "given-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get(reqid.Header); got != "given-1" {
		t.Errorf("X-Request-Id %q, want given-1", got)
	}
	if !strings.Contains(buf.String(), "request_id=given-1") || !strings.Contains(buf.String(), "component=x") {
		t.Errorf("log line %q: want request_id=given-1 and the logger's attributes", buf.String())
	}
	buf.Reset()
	log.InfoContext(context.Background(), "no request")
	if strings.Contains(buf.String(), "request_id") {
		t.Errorf("log line %q without a request carries request_id", buf.String())
	}
}
