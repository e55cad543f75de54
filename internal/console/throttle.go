package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sign-in throttling (README, "Console and apps"). Three parts:
//
//   - Per source: the client address (an IPv6 address counts by its /64;
//     behind a proxy listed in Options.TrustedProxies, the address that
//     proxy reports in X-Forwarded-For). The first freeFailures failures
//     cost nothing; each further one doubles a back-off (1 s … 5 min) during
//     which that source's attempts are answered 429 with Retry-After,
//     without a password check. A success clears the source; a source is
//     forgotten a quarter of an hour after its last failure. A new address
//     starts with a clean slate, which is why the global part exists.
//   - Globally: while more than globalFailures failures happened within a
//     minute (from any sources), every password check waits its turn in one
//     queue, globalSpacing apart. Together the attackers get a few guesses a
//     second, and a correct password is delayed, never refused.
//   - Per device: a browser that signed in before carries a signed device
//     cookie. Its attempts are throttled per device instead of per source
//     and skip the global queue, so failures from others behind the same
//     proxy (or a flood from many addresses) cannot lock the admin out.
const (
	freeFailures   = 5
	firstBackoff   = time.Second
	maxBackoff     = 5 * time.Minute
	forgetAfter    = 15 * time.Minute
	maxSources     = 10_000
	maxInFlight    = 4 // concurrent attempts per source or device
	globalFailures = 30
	globalWindow   = time.Minute
	globalSpacing  = 250 * time.Millisecond
	deviceCookie   = "pixiu_console_device"
	deviceTTL      = 365 * 24 * time.Hour
)

type throttle struct {
	trusted []netip.Prefix
	spacing time.Duration // globalSpacing; tests shorten it

	mu         sync.Mutex
	sources    map[string]*source // guarded by mu
	failures   []time.Time        // guarded by mu: the last globalFailures failures, oldest first
	nextSlot   time.Time          // guarded by mu: the global queue's next free turn
	refused    int                // guarded by mu: 429s since the last log line
	refusedLog time.Time          // guarded by mu
}

// source is the failure record of one client address or device.
type source struct {
	failures int
	last     time.Time // last failure
	until    time.Time // refused until then
	inFlight int
}

func (t *throttle) init(opts Options) error {
	t.sources = map[string]*source{}
	t.spacing = globalSpacing
	for _, s := range opts.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return fmt.Errorf("console: trusted_proxies: %q is neither an address nor a CIDR prefix", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		t.trusted = append(t.trusted, p.Masked())
	}
	return nil
}

func (t *throttle) isTrusted(a netip.Addr) bool {
	for _, p := range t.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// client returns the sign-in's source address: the peer, or when the peer
// is a trusted proxy the right-most X-Forwarded-For address that is not a
// trusted proxy itself (the left part of the header is the client's to
// write, so it is never believed).
func (t *throttle) client(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !t.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed hop: trust nothing beyond the proxy
		}
		if a = a.Unmap(); !t.isTrusted(a) {
			return a
		}
	}
	return peer
}

// sourceKey groups addresses an attacker gets for free: an IPv6 /64.
func sourceKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// admit takes an attempt for key at now. It returns a release func, or the
// time to wait before trying again.
func (t *throttle) admit(key string, now time.Time) (release func(), retry time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[key]
	if s != nil && now.Sub(s.last) > forgetAfter && s.inFlight == 0 {
		delete(t.sources, key)
		s = nil
	}
	if s != nil && (now.Before(s.until) || s.inFlight >= maxInFlight) {
		t.refused++
		return nil, max(s.until.Sub(now), time.Second)
	}
	if s == nil {
		t.evict(now)
		s = &source{}
		t.sources[key] = s
	}
	s.inFlight++
	return func() {
		t.mu.Lock()
		s.inFlight--
		t.mu.Unlock()
	}, 0
}

// evict makes room for a new source: the forgotten ones, else the one whose
// last failure is the oldest. Must be called with t.mu held.
func (t *throttle) evict(now time.Time) {
	if len(t.sources) < maxSources {
		return
	}
	var oldest string
	var at time.Time
	for k, s := range t.sources {
		if now.Sub(s.last) > forgetAfter && s.inFlight == 0 {
			delete(t.sources, k)
			continue
		}
		if oldest == "" || s.last.Before(at) {
			oldest, at = k, s.last
		}
	}
	if len(t.sources) >= maxSources {
		delete(t.sources, oldest)
	}
}

// fail records a wrong password for key and returns its failure count and
// how long the key is refused from now.
func (t *throttle) fail(key string, now time.Time) (int, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) == globalFailures {
		copy(t.failures, t.failures[1:])
		t.failures = t.failures[:globalFailures-1]
	}
	t.failures = append(t.failures, now)
	s := t.sources[key]
	if s == nil {
		return 0, 0
	}
	s.failures++
	s.last = now
	var wait time.Duration
	if n := s.failures - freeFailures; n > 0 {
		wait = firstBackoff << min(n-1, 20)
		wait = min(wait, maxBackoff)
		s.until = now.Add(wait)
	}
	return s.failures, wait
}

// succeed clears key's failures.
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sources[key]; s != nil {
		s.failures, s.until = 0, time.Time{}
	}
}

// turn waits for the global queue while failures are frequent; it returns
// early only when ctx ends.
func (t *throttle) turn(ctx context.Context, now time.Time) error {
	t.mu.Lock()
	busy := len(t.failures) == globalFailures && now.Sub(t.failures[0]) < globalWindow
	var wait time.Duration
	if busy {
		slot := t.nextSlot
		if slot.Before(now) {
			slot = now
		}
		t.nextSlot = slot.Add(t.spacing)
		wait = slot.Sub(now)
	}
	t.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refusedSinceLog returns the 429s to report, at most once a minute.
func (t *throttle) refusedSinceLog(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refused == 0 || now.Sub(t.refusedLog) < time.Minute {
		return 0
	}
	n := t.refused
	t.refused, t.refusedLog = 0, now
	return n
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
