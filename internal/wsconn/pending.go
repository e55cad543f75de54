package wsconn

import "sync"

// Chunk sizes of pending: most connections only ever need a small first
// chunk per loop pass; a backlog grows in fixed chunks instead of one slice
// that doubles (whose old copies would all be garbage), and a frame larger
// than a chunk gets a chunk of its own size that is never pooled.
const (
	smallChunk = 2 << 10
	bigChunk   = 16 << 10
)

var (
	smallChunks = sync.Pool{New: func() any { b := make([]byte, 0, smallChunk); return &b }}
	bigChunks   = sync.Pool{New: func() any { b := make([]byte, 0, bigChunk); return &b }}
)

func newChunk(need int, first bool) []byte {
	switch {
	case first && need <= smallChunk:
		return (*smallChunks.Get().(*[]byte))[:0]
	case need <= bigChunk:
		return (*bigChunks.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, need)
}

// putChunk returns a chunk to its pool; chunks of other sizes are dropped.
func putChunk(b []byte) {
	switch cap(b) {
	case smallChunk:
		b = b[:0]
		smallChunks.Put(&b)
	case bigChunk:
		b = b[:0]
		bigChunks.Put(&b)
	}
}

// pending is a connection's queue of encoded frames not yet handed to gnet:
// a first chunk and, for a backlog, more chunks. first is nil only when more
// is empty. Guarded by conn.mu.
type pending struct {
	first []byte
	more  [][]byte
	n     int // bytes in all chunks
	mem   int // capacity of all chunks: the memory they hold
}

// appendFrame appends an unmasked, final server frame with payload p.
func (q *pending) appendFrame(op byte, p []byte) {
	need := frameHeaderLen(len(p)) + len(p)
	var last *[]byte
	switch {
	case len(q.more) > 0:
		last = &q.more[len(q.more)-1]
	case q.first != nil:
		last = &q.first
	}
	if last == nil || cap(*last)-len(*last) < need {
		c := newChunk(need, q.first == nil)
		q.mem += cap(c)
		if q.first == nil {
			q.first = c
			last = &q.first
		} else {
			q.more = append(q.more, c)
			last = &q.more[len(q.more)-1]
		}
	}
	*last = appendFrame(*last, op, p)
	q.n += need
}

// take moves chunks from the front of q to dst, at least one and then while
// they add up to less than limit bytes, and returns dst and the bytes moved.
func (q *pending) take(dst [][]byte, limit int) ([][]byte, int) {
	if q.first == nil {
		return dst, 0
	}
	dst = append(dst, q.first)
	n, mem := len(q.first), cap(q.first)
	k := 0 // chunks taken from more
	for k < len(q.more) && n+len(q.more[k]) <= limit {
		dst = append(dst, q.more[k])
		n += len(q.more[k])
		mem += cap(q.more[k])
		k++
	}
	if k == len(q.more) {
		q.first, q.more = nil, nil
	} else {
		q.first = q.more[k]
		rest := copy(q.more, q.more[k+1:])
		clear(q.more[rest:])
		q.more = q.more[:rest]
	}
	q.n -= n
	q.mem -= mem
	return dst, n
}

// reset drops every chunk.
func (q *pending) reset() {
	if q.first != nil {
		putChunk(q.first)
	}
	for _, c := range q.more {
		putChunk(c)
	}
	*q = pending{}
}
