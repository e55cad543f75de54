package wsconn

import (
	"bytes"
	"slices"
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
		t.Errorf("first chunk cap %d, want 128 B for a 12-byte first frame", c)
	}
	// Each further chunk doubles the one before, up to 16 KiB; larger
	// frames get their own.
	wantCaps := []int{128, 1024, 4096, 20_004, 16384, 70_010, 16384}
	var caps []int
	for _, c := range append([][]byte{q.first}, q.more...) {
		caps = append(caps, cap(c))
	}
	if !slices.Equal(caps, wantCaps) {
		t.Errorf("chunk capacities %v, want %v", caps, wantCaps)
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

// TestPendingGrowth: a backlog of small frames grows in doubling chunks up
// to 16 KiB, so a connection that gets one small frame per pass holds 128 B
// and one with a backlog does not hold many small chunks.
func TestPendingGrowth(t *testing.T) {
	t.Parallel()
	var q pending
	p := bytes.Repeat([]byte{'x'}, 98) // 100-byte frames
	for range 400 {
		q.appendFrame(opText, p)
	}
	var caps []int
	for _, c := range append([][]byte{q.first}, q.more...) {
		caps = append(caps, cap(c))
	}
	want := []int{128, 256, 512, 1024, 2048, 4096, 8192, 16384, 16384}
	if !slices.Equal(caps, want) {
		t.Errorf("chunk capacities %v, want %v", caps, want)
	}
	q.reset()
}
