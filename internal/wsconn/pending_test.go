package wsconn

import (
	"bytes"
	"testing"
)

// TestPendingChunks: frames keep their order across chunks of every size,
// take moves whole chunks up to the limit, and the counts follow.
func TestPendingChunks(t *testing.T) {
	t.Parallel()
	var q pending
	var want []byte
	for i, n := range []int{10, 900, 3000, 100, 20_000, 5, 16_000, 70_000, 1} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		q.appendFrame(opText, p)
		want = appendFrame(want, opText, p)
	}
	if q.n != len(want) {
		t.Fatalf("n = %d, want %d", q.n, len(want))
	}
	if q.mem < q.n {
		t.Fatalf("mem %d < n %d", q.mem, q.n)
	}
	if c := cap(q.first); c != 1<<minChunkShift {
		t.Errorf("first chunk cap %d, want 1 KiB for a small first frame", c)
	}
	var got []byte
	for q.first != nil {
		var iov [][]byte
		var n int
		iov, n = q.take(iov, 16<<10)
		if len(iov) == 0 || n == 0 {
			t.Fatal("take moved nothing")
		}
		for _, b := range iov {
			got = append(got, b...)
			putChunk(b)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("frames changed across chunks")
	}
	if q.n != 0 || q.mem != 0 || q.more != nil {
		t.Fatalf("after taking all: n %d mem %d more %d", q.n, q.mem, len(q.more))
	}
}
