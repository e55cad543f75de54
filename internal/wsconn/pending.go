package wsconn

import "sync"

// Chunk sizes of pending: a connection's first chunk is the smallest power
// of two from 128 B that holds its first frame, and each further chunk of a
// backlog is twice the previous one, up to 16 KiB (a backlog then grows in
// fixed 16 KiB chunks instead of one slice that doubles, whose old copies
// would all be garbage). A frame larger than 16 KiB gets a chunk of its own
// size that is never pooled. Small first chunks matter because a broadcast
// queues its frame for every subscriber before the loops write any: a
// subscription count (about 100 bytes) sent to 19,900 connections held
// 19,900 chunks at once, 20 MB in 1 KiB chunks, which then stayed in the pool
// (docs/PERFORMANCE.md, "Idle memory").
const (
	minChunkShift = 7 // 128 B
	chunkClasses  = 8 // 128 B … 16 KiB
	bigChunk      = 1 << (minChunkShift + chunkClasses - 1)
)

// chunkPools holds one pool per size class. Package-level like the other
// buffer pools: sync.Pools are safe for concurrent use and hold no state
// a caller can observe.
var chunkPools [chunkClasses]sync.Pool

func init() {
	for i := range chunkPools {
		size := 1 << (minChunkShift + i)
		chunkPools[i].New = func() any { b := make([]byte, 0, size); return &b }
	}
}

// chunkClass returns the class of the smallest chunk holding n bytes, or
// -1 if n is over bigChunk.
func chunkClass(n int) int {
	for i := range chunkClasses {
		if n <= 1<<(minChunkShift+i) {
			return i
		}
	}
	return -1
}

// newChunk returns an empty chunk for a frame of need bytes following a
// chunk of capacity prev (0 for the first chunk).
func newChunk(need, prev int) []byte {
	class := chunkClass(need)
	if prev > 0 && class >= 0 {
		next := chunkClasses - 1 // after a chunk larger than bigChunk
		if pc := chunkClass(prev); pc >= 0 {
			next = min(pc+1, chunkClasses-1)
		}
		class = max(class, next)
	}
	if class < 0 {
		return make([]byte, 0, need)
	}
	return (*chunkPools[class].Get().(*[]byte))[:0]
}

// putChunk returns a chunk to its pool; chunks of other sizes are dropped.
func putChunk(b []byte) {
	c := cap(b)
	if class := chunkClass(c); class >= 0 && c == 1<<(minChunkShift+class) {
		b = b[:0]
		chunkPools[class].Put(&b)
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
		prev := 0
		if last != nil {
			prev = cap(*last)
		}
		c := newChunk(need, prev)
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
