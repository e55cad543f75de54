package restapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

func TestSurrogatesPaired(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"data":"plain"}`:              true,
		`{"data":"\u00e9 \"q\" \\ \n"}`: true,
		`{"data":"\ud83d\ude00"}`:       true,
		`{"data":"\uD83D\uDE00"}`:       true,
		`{"data":"\\ud800"}`:            true, // an escaped backslash, then text
		`{"data":"\ud800"}`:             false,
		`{"data":"\ud800x"}`:            false,
		`{"data":"\ud800\u0041"}`:       false,
		`{"data":"\udc00"}`:             false,
		`{"data":"\ud83d\ude00\udc00"}`: false,
		`{"data":"\ud83d\ud83d\ude00"}`: false,
		`{"data":"\u12"}`:               true, // invalid JSON: the decoder's to refuse
		`\`:                             true,
		`{"name":"\ud800","data":"x"}`:  false,
		`{"batch":[{"data":"\udfff"}]}`: false,
	} {
		if got := surrogatesPaired([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}

// stallReader gives n bytes, then fails as a client that stalls until the
// read deadline would.
type stallReader struct{ n int }

func (s *stallReader) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, errors.New("i/o timeout")
	}
	k := min(len(p), s.n)
	for i := range k {
		p[i] = 'x'
	}
	s.n -= k
	return k, nil
}

// TestReadBodyAllocatesWhatArrives: a request declaring a 1 MiB body but
// sending 100 bytes of it does not make readBody allocate 1 MiB (on the
// net/http path, a client waiting for 100 Continue or sending HTTP/1.0
// did: 300 such connections, 120 bytes of head each, held 310 MB).
func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		r := httptest.NewRequest(http.MethodPost, "/apps/1/events", io.NopCloser(&stallReader{n: 100}))
		r.ContentLength = 1 << 20
		if _, err := readBody(r, 1<<20); err == nil {
			t.Fatal("a stalled body read without error")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("10 stalled 1 MiB bodies of 100 bytes allocated %d bytes", got)
	}
	r := httptest.NewRequest(http.MethodPost, "/apps/1/events", strings.NewReader(strings.Repeat("y", 200<<10)))
	if b, err := readBody(r, 1<<20); err != nil || len(b) != 200<<10 {
		t.Fatalf("a 200 KiB body: %d bytes, %v", len(b), err)
	}
}
