package pusher_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/signature"
	"github.com/pixiu-io/pixiu/pusher"
)

const (
	testAppID  = "3"
	testKey    = "278d425bdf160c739803"
	testSecret = "7ad3773142a6692b25b8"
	// testMasterKey is bytes 0..31 (protocol.md §5).
	testMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// request is what the fake server received.
type request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Header http.Header
}

// fakeServer is a Pusher REST API on loopback that rejects any request whose
// signature does not verify with internal/signature, then answers with the
// canned response for "METHOD path" (default 200 {}).
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	requests  []request             // guarded by mu
	responses map[string]cannedResp // guarded by mu
	hold      chan struct{}         // when not nil, handlers wait for it to close
}

type cannedResp struct {
	status int
	body   string
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, responses: map[string]cannedResp{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := signature.VerifyRequest(testKey, testSecret, r.Method, r.URL.Path, r.URL.Query(), body, time.Now(), 600*time.Second); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Clone()})
	resp, ok := f.responses[r.Method+" "+r.URL.Path]
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		resp = cannedResp{200, "{}"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.body)
}

// respond sets the answer to "METHOD path".
func (f *fakeServer) respond(methodPath string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responses[methodPath] = cannedResp{status, body}
}

func (f *fakeServer) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// client returns a Client for the fake server; edit tweaks the options.
func (f *fakeServer) client(edit func(*pusher.Options)) *pusher.Client {
	f.t.Helper()
	opts := pusher.Options{
		AppID: testAppID, Key: testKey, Secret: testSecret,
		Host: strings.TrimPrefix(f.srv.URL, "http://"), EncryptionMasterKey: testMasterKey,
	}
	if edit != nil {
		edit(&opts)
	}
	c, err := pusher.New(opts)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

func mustForm(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("parse form %q: %v", s, err)
	}
	return v
}

// holdRequests makes handlers wait (after recording the request) until the
// returned release is called; release is idempotent and also runs at cleanup.
func (f *fakeServer) holdRequests() (release func()) {
	f.t.Helper()
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	f.t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
