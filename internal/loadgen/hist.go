package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// histogram records non-negative durations in log-linear buckets: exact below
// 128 ns, then 64 buckets per power of two (≤ 1.6 % relative error). It is
// not safe for concurrent use: each goroutine or event loop owns one and they
// are merged after the owners have stopped.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSub     = 64
	histBuckets = 2*histSub + 57*histSub
)

func histIndex(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 7 // v>>shift is in [64, 128)
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// histValue is the midpoint of bucket i.
func histValue(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	m := int64((i-2*histSub)%histSub + histSub)
	return m<<shift + int64(1)<<(shift-1)
}

func (h *histogram) record(d time.Duration) {
	v := int64(max(d, 0))
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
	h.counts[histIndex(v)]++
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the value at quantile q in [0, 1] (0 when empty). The
// extremes are exact; other values are bucket midpoints clamped to [min, max].
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank <= 1 {
		return time.Duration(h.min)
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(max(histValue(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
