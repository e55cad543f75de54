package demo

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// maxLimited bounds the addresses the trade limiter remembers; past it,
// idle ones are forgotten, and if none is idle the newcomers share one bucket.
const maxLimited = 10_000

// limiter is a token bucket per client address: burst trades at once, then
// rate per second. It is safe for concurrent use.
type limiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: make(map[string]*bucket)}
}

// allow takes one token for key at now; when there is none it returns false
// and how long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimited {
			l.forgetIdle(now)
		}
		if len(l.buckets) >= maxLimited {
			key = "" // every address is busy: newcomers share one bucket
			b = l.buckets[key]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, at: now}
			l.buckets[key] = b
		}
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// forgetIdle drops the buckets that have refilled (no trade for a while).
// Must be called with l.mu held.
func (l *limiter) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// clientAddr is the address a request came from: the peer's IP. Proxy
// headers are not trusted (anyone can send them), so every client behind
// one proxy shares a bucket.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
