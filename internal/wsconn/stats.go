package wsconn

import (
	"strconv"
	"sync/atomic"
)

// closeCodes are the close codes counted by their own label: the WebSocket
// codes a Pusher connection ends with and the documented Pusher codes
// (protocol.md §2). Any other code counts as "other"; a connection that ended
// without a close frame either way counts as 1006 (RFC 6455 §7.1.5).
var closeCodes = [...]int{1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011,
	4000, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4100, 4200, 4201, 4202}

// connStats are the transport's connection counters: one atomic add per
// connection opened or closed, read at scrape time.
type connStats struct {
	opened     atomic.Int64
	closed     [len(closeCodes) + 1]atomic.Int64 // by closeCodeIndex; the last is "other"
	slowClosed atomic.Int64                      // closed with 4100 for a full outbound buffer or the budget
}

func closeCodeIndex(code int) int {
	for i, c := range closeCodes {
		if c == code {
			return i
		}
	}
	return len(closeCodes)
}

// CloseCodeLabels returns the label values of Stats.Closed, in order: the
// codes counted by name, then "other".
func CloseCodeLabels() []string {
	out := make([]string, 0, len(closeCodes)+1)
	for _, c := range closeCodes {
		out = append(out, strconv.Itoa(c))
	}
	return append(out, "other")
}

// Stats are this node's Pusher connection counters since the start.
type Stats struct {
	Opened             int64   // connections established (after pusher:connection_established)
	Closed             []int64 // established connections closed, by CloseCodeLabels
	SlowConsumerClosed int64   // closed with 4100: outbound buffer or budget exceeded
}

// Stats returns the connection counters.
func (t *Transport) Stats() Stats {
	st := Stats{Opened: t.stats.opened.Load(), SlowConsumerClosed: t.stats.slowClosed.Load(),
		Closed: make([]int64, len(t.stats.closed))}
	for i := range t.stats.closed {
		st.Closed[i] = t.stats.closed[i].Load()
	}
	return st
}
