package loadgen

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

type stringsBuilder = strings.Builder

func TestClientFrameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 5, 125, 126, 1000, 70000} {
		payload := bytes.Repeat([]byte("a"), n)
		frame := appendClientFrame(nil, opText, payload)
		h, err := ws.ReadHeader(bytes.NewReader(frame))
		if err != nil || !h.Masked || h.OpCode != ws.OpText || !h.Fin || h.Length != int64(n) {
			t.Fatalf("n=%d: header %+v, %v", n, h, err)
		}
		got, op, err := wsutil.ReadClientData(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(frame), io.Discard})
		if err != nil || op != ws.OpText || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: %v %v %d bytes", n, err, op, len(got))
		}
	}
}

func TestParseFrame(t *testing.T) {
	t.Parallel()
	var stream bytes.Buffer
	msgs := []string{"hello", strings.Repeat("x", 300), strings.Repeat("y", 70000)}
	for _, m := range msgs {
		_ = wsutil.WriteServerText(&stream, []byte(m))
	}
	b := stream.Bytes()
	for i, m := range msgs {
		if _, _, err := parseFrame(b[:3]); err != errShortFrame {
			t.Fatalf("partial header: %v", err)
		}
		f, n, err := parseFrame(b)
		if err != nil || f.op != opText || !f.fin || string(f.payload) != m {
			t.Fatalf("frame %d: %v op=%d", i, err, f.op)
		}
		if _, _, err := parseFrame(b[:n-1]); err != errShortFrame {
			t.Fatalf("frame %d truncated: %v", i, err)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
}

func TestJSONField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, key, want string }{
		{`{"event":"pusher:ping","data":{}}`, "event", "pusher:ping"},
		{`{"data":"{\"event\":\"fake\"}","event": "real"}`, "event", "real"},
		{`{"channel":"a","event":"x\"y"}`, "event", `x\"y`},
		{`{"data":"{}"}`, "event", ""},
	} {
		if got := string(jsonField([]byte(tc.msg), tc.key)); got != tc.want {
			t.Errorf("jsonField(%s, %s) = %q, want %q", tc.msg, tc.key, got, tc.want)
		}
	}
}

func TestBenchDataRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now().UnixNano()
	data := benchData(nil, 4242, now, 100)
	if len(data) != 100 {
		t.Fatalf("data is %d bytes, want 100: %s", len(data), data)
	}
	// As a server sends it: the data string JSON-encoded inside the envelope.
	msg := []byte(`{"event":"bench-event","channel":"fanout","data":` + quoteJSON(string(data)) + `}`)
	seq, ok1 := jsonNumber(msg, "seq")
	ts, ok2 := jsonNumber(msg, "ts")
	if !ok1 || !ok2 || seq != 4242 || ts != now {
		t.Fatalf("got seq=%d ts=%d (%v %v) from %s", seq, ts, ok1, ok2, msg)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 5 * time.Millisecond, 0.99: 9900 * time.Microsecond, 1: 10 * time.Millisecond} {
		got := h.quantile(q)
		if d := float64(got-want) / float64(want); d > 0.02 || d < -0.02 {
			t.Errorf("q%.2f = %v, want %v ±2%%", q, got, want)
		}
	}
	if h.quantile(0) != time.Microsecond {
		t.Errorf("min = %v", h.quantile(0))
	}
}
