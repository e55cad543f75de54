package wsconn

import "testing"

func TestParseRESTRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in           string
		ok, complete, kill bool
		size               int
	}{
		{"post", "POST /apps/1/events HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", true, true, false, 53},
		{"get", "GET /apps/1/channels?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", true, true, false, 0},
		{"partial head", "POST /apps/1/events HTTP/1.1\r\nContent-Len", true, false, false, 0},
		{"partial body", "POST /apps/1/events HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", true, false, false, 0},
		{"close", "GET /apps/1/channels HTTP/1.1\r\nConnection: close\r\n\r\n", true, true, true, 0},
		{"other path", "GET /ready HTTP/1.1\r\n\r\n", false, false, false, 0},
		{"other path, partial", "GET /console HTT", false, false, false, 0},
		{"http/1.0", "GET /apps/1/channels HTTP/1.0\r\n\r\n", false, false, false, 0},
		{"chunked", "POST /apps/1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, false, 0},
		{"expect", "POST /apps/1/events HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", false, false, false, 0},
		{"bad length", "POST /apps/1/events HTTP/1.1\r\nContent-Length: -1\r\n\r\n", false, false, false, 0},
		{"huge body", "POST /apps/1/events HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", false, false, false, 0},
		{"put", "PUT /apps/1/events HTTP/1.1\r\n\r\n", false, false, false, 0},
		{"no headers", "GET /apps/x HTTP/1.1\r\n\r\n", true, true, false, 0},
		{"blank", "\r\n\r\n", false, false, false, 0},
	}
	for _, tc := range cases {
		req, ok, complete := parseRESTRequest([]byte(tc.in))
		if ok != tc.ok || complete != tc.complete || (complete && req.close != tc.kill) {
			t.Errorf("%s: ok=%v complete=%v close=%v", tc.name, ok, complete, req.close)
		}
		if tc.size > 0 && req.size != tc.size {
			t.Errorf("%s: size %d, want %d", tc.name, req.size, tc.size)
		}
	}
}

func FuzzParseRESTRequest(f *testing.F) {
	f.Add([]byte("POST /apps/1/events HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET /apps/1/channels HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, ok, complete := parseRESTRequest(b)
		if ok && complete && (req.size > len(b) || len(req.body) > maxRESTBody) {
			t.Fatalf("size %d of %d", req.size, len(b))
		}
	})
}
