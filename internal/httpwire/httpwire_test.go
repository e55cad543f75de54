package httpwire

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	const post = "POST /apps/1/events HTTP/1.1\r\n"
	cases := []struct {
		name, in string
		want     Verdict
		status   int  // Refuse
		close    bool // Complete
		body     string
	}{
		{"post", post + "Host: h\r\nContent-Length: 2\r\n\r\n{}", Complete, 0, false, "{}"},
		{"get, no headers", "GET /apps/1/channels?x=1 HTTP/1.1\r\n\r\n", Complete, 0, false, ""},
		{"leading zeros", post + "Content-Length: 002\r\n\r\n{}", Complete, 0, false, "{}"},
		{"value spaces", post + "Content-Length: \t2 \r\n\r\n{}", Complete, 0, false, "{}"},
		{"obs-text value", post + "X-Name: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", Complete, 0, false, ""},
		{"close", "GET /apps/1/channels HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", Complete, 0, true, ""},
		{"pipelined", post + "Content-Length: 2\r\n\r\n{}GET /", Complete, 0, false, "{}"},
		{"partial line", "POST /apps/1/ev", Incomplete, 0, false, ""},
		{"partial head", post + "Content-Len", Incomplete, 0, false, ""},
		{"partial body", post + "Content-Length: 10\r\n\r\n{}", Incomplete, 0, false, ""},
		{"http/1.0", "GET /apps/1/channels HTTP/1.0\r\n\r\n", Handoff, 0, false, ""},
		{"chunked", post + "Transfer-Encoding: chunked\r\n\r\n", Handoff, 0, false, ""},
		{"expect", post + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", Handoff, 0, false, ""},
		{"signed +", post + "Content-Length: +2\r\n\r\n{}", Refuse, 400, false, ""},
		{"signed -", post + "Content-Length: -1\r\n\r\n", Refuse, 400, false, ""},
		{"empty length", post + "Content-Length: \r\n\r\n", Refuse, 400, false, ""},
		{"list length", post + "Content-Length: 2, 2\r\n\r\n{}", Refuse, 400, false, ""},
		{"hex length", post + "Content-Length: 0x2\r\n\r\n{}", Refuse, 400, false, ""},
		{"huge length", post + "Content-Length: 99999999999999999999999\r\n\r\n", Refuse, 400, false, ""},
		{"duplicate length", post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", Refuse, 400, false, ""},
		{"differing lengths", post + "Content-Length: 2\r\ncontent-length: 3\r\n\r\n{}", Refuse, 400, false, ""},
		{"length and chunked", post + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", Refuse, 400, false, ""},
		{"duplicate host", post + "Host: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", Refuse, 400, false, ""},
		{"too large", post + "Content-Length: 1048577\r\n\r\n", Refuse, 413, false, ""},
		{"too large, expect", post + "Expect: 100-continue\r\nContent-Length: 1048577\r\n\r\n", Refuse, 413, false, ""},
		{"bare lf line", "POST /apps/1/events HTTP/1.1\n\n", Refuse, 400, false, ""},
		{"bare lf header", post + "Host: a\nContent-Length: 0\r\n\r\n", Refuse, 400, false, ""},
		{"folding", post + "X: a\r\n b\r\nContent-Length: 0\r\n\r\n", Refuse, 400, false, ""},
		{"space before colon", post + "Content-Length : 2\r\n\r\n{}", Refuse, 400, false, ""},
		{"no colon", post + "Host\r\n\r\n", Refuse, 400, false, ""},
		{"control in value", post + "X: a\x00b\r\n\r\n", Refuse, 400, false, ""},
		{"cr in value", post + "X: a\rb\r\n\r\n", Refuse, 400, false, ""},
		{"space in target", "GET /apps/1 x HTTP/1.1\r\n\r\n", Refuse, 400, false, ""},
		{"no version", "GET /apps/1\r\n\r\n", Refuse, 400, false, ""},
		{"bad version", "GET /apps/1 HTTX/1.1\r\n\r\n", Refuse, 400, false, ""},
		{"blank", "\r\n\r\n", Refuse, 400, false, ""},
		{"line too long", "GET /" + strings.Repeat("a", DefaultMaxLine), Refuse, 414, false, ""},
		{"head too large", post + "X: " + strings.Repeat("a", DefaultMaxHead), Refuse, 431, false, ""},
		{"too many headers", post + strings.Repeat("X: 1\r\n", DefaultMaxHeaders+1) + "\r\n", Refuse, 431, false, ""},
	}
	for _, tc := range cases {
		req, v := Parse([]byte(tc.in), Limits{})
		if v != tc.want || req.Status != tc.status {
			t.Errorf("%s: verdict %d status %d (%s), want %d %d", tc.name, v, req.Status, req.Reason, tc.want, tc.status)
			continue
		}
		if v == Refuse && req.Reason == "" {
			t.Errorf("%s: refused without a reason", tc.name)
		}
		if v == Complete && (req.Close != tc.close || string(req.Body) != tc.body ||
			req.Size != strings.Index(tc.in, "\r\n\r\n")+4+len(tc.body)) {
			t.Errorf("%s: close %v body %q size %d", tc.name, req.Close, req.Body, req.Size)
		}
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	in := []byte("POST /apps/1/events HTTP/1.1\r\nA: 1\r\nB: 2\r\nContent-Length: 5\r\n\r\nhello")
	if _, v := Parse(in, Limits{MaxHeaders: 2}); v != Refuse {
		t.Errorf("3 headers over a limit of 2: verdict %d", v)
	}
	if req, v := Parse(in, Limits{MaxBody: 4}); v != Refuse || req.Status != 413 {
		t.Errorf("5 bytes over a limit of 4: verdict %d status %d", v, req.Status)
	}
	if req, v := Parse(in, Limits{MaxLine: 10}); v != Refuse || req.Status != 414 {
		t.Errorf("line over 10 bytes: verdict %d status %d", v, req.Status)
	}
	if req, v := Parse(in, Limits{MaxHead: 40}); v != Refuse || req.Status != 431 {
		t.Errorf("head over 40 bytes: verdict %d status %d", v, req.Status)
	}
	if _, v := Parse(in, Limits{MaxLine: 1 << 10, MaxHead: 16}); v != Refuse {
		t.Errorf("head limit below the line: verdict %d", v)
	}
}

// FuzzParse checks Parse against net/http's own request reader: what Parse
// frames as complete, net/http reads as the same request with the same body.
func FuzzParse(f *testing.F) {
	f.Add([]byte("POST /apps/1/events HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET /apps/1/channels HTTP/1.1\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("POST /apps/1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
	f.Add([]byte("POST /apps/1/events HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, v := Parse(b, Limits{})
		switch v {
		case Refuse:
			if req.Status == 0 || req.Reason == "" {
				t.Fatalf("refused without status or reason")
			}
			return
		case Complete:
		default:
			return
		}
		if req.Size > len(b) || len(req.Body) > DefaultMaxBody {
			t.Fatalf("size %d of %d, body %d", req.Size, len(b), len(req.Body))
		}
		if _, err := url.ParseRequestURI(string(req.Target)); err != nil {
			return // the target is the handler's to judge
		}
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:req.Size])))
		if err != nil {
			t.Fatalf("Parse framed %q; net/http: %v", b[:req.Size], err)
		}
		body, err := io.ReadAll(hr.Body)
		if err != nil || hr.Method != string(req.Method) || hr.RequestURI != string(req.Target) || !bytes.Equal(body, req.Body) || hr.Close != req.Close {
			t.Fatalf("Parse: %s %s body %q close %v; net/http: %s %s body %q close %v (%v)", req.Method, req.Target, req.Body, req.Close,
				hr.Method, hr.RequestURI, body, hr.Close, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	in := []byte("POST /apps/app-id/events?auth_key=app-key&auth_signature=0123456789012345678901234567890123456789012345678901234567890123&auth_timestamp=1700000000&auth_version=1.0&body_md5=01234567890123456789012345678901 HTTP/1.1\r\nHost: 127.0.0.1:6001\r\nUser-Agent: pixiu-bench\r\nContent-Length: 109\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n" +
		`{"name":"update","channels":["price_channel"],"data":"{\"price\":\"1234567890123456789012345678901234567890\"}"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, v := Parse(in, Limits{}); v != Complete {
			b.Fatal("not complete")
		}
	}
}
