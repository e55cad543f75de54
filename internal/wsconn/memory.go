package wsconn

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// After a burst of connections, give the heap it left behind back to the OS.
//
// A join storm (every client reconnecting after a deploy or a network blip)
// allocates much more than the connections keep: the handshake's parsing,
// the subscribe messages, the frames queued for every subscriber. The heap
// grows to the collector's goal, twice what is live, and stays there: an
// idle server collects only every two minutes, the sync.Pools keep their
// buffers until two collections pass, and even then the runtime's scavenger
// keeps the free pages up to the heap goal. Measured with 19,900
// connections: about 0.6 KB per connection of RSS that nothing uses
// (docs/PERFORMANCE.md, "Idle memory").
//
// So the sweeper watches the connections opened per tick; when a burst of at
// least releaseBurst connections is followed by a quiet tick (fewer than
// releaseQuiet opened), it runs two collections (the second empties the
// pools' victim caches) and returns the free pages (debug.FreeOSMemory).
// It costs one collection more than the runtime would have run, once per
// burst, off the event loops; a server under steady churn never gets a
// quiet tick and never pays it.
const (
	releaseBurst = 1000
	releaseQuiet = 10
)

// memRelease is the sweeper's burst detector.
type memRelease struct {
	opened  int64       // connections opened as of the previous tick; sweeper only
	burst   int64       // opened since the last quiet tick; sweeper only
	running atomic.Bool // a release is in progress
	count   atomic.Int64
}

// tick takes the transport's opened count at one sweep and starts a release
// when a burst just ended.
func (m *memRelease) tick(opened int64) {
	n := opened - m.opened
	m.opened = opened
	if n >= releaseQuiet {
		m.burst += n
		return
	}
	burst := m.burst
	m.burst = 0
	if burst < releaseBurst || !m.running.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.running.Store(false)
		runtime.GC()
		debug.FreeOSMemory()
		m.count.Add(1)
	}()
}
