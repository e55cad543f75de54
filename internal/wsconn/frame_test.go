package wsconn

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func TestAppendHeaderLengths(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		b := appendFrame(nil, opText, bytes.Repeat([]byte("x"), n))
		h, err := ws.ReadHeader(bytes.NewReader(b))
		if err != nil || h.Length != int64(n) || !h.Fin || h.OpCode != ws.OpText || h.Masked {
			t.Fatalf("n=%d: %+v %v", n, h, err)
		}
	}
	c := appendClose(nil, 4001, string(bytes.Repeat([]byte("r"), 200)))
	if len(c) != 2+2+123 || c[2] != 4001>>8 || c[3] != 4001&0xff {
		t.Fatalf("close frame %d bytes", len(c))
	}
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	var s subscriptions
	s.add("a", "")
	s.add("presence-b", "u1")
	if uid, ok := s.get("presence-b"); !ok || uid != "u1" {
		t.Fatal("get presence-b")
	}
	if uid, ok := s.remove("presence-b"); !ok || uid != "u1" || len(s) != 1 {
		t.Fatal("remove presence-b")
	}
	if _, ok := s.remove("nope"); ok {
		t.Fatal("removed a channel never added")
	}
	if _, ok := s.get("a"); !ok {
		t.Fatal("lost a")
	}
}

func TestSocketIDShape(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newSocketID()
		if seen[id] {
			t.Fatalf("duplicate socket id %s", id)
		}
		seen[id] = true
		dot := bytes.IndexByte([]byte(id), '.')
		if dot <= 0 || dot == len(id)-1 {
			t.Fatalf("bad socket id %q", id)
		}
	}
}
