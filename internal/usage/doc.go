// Package usage counts each app's messages per UTC day (protocol.md §8) and
// its current and peak connections, enforces daily message quotas, and keeps
// an hourly history for the console's chart.
//
// Counting is on the hot path (every delivery to a socket), so it is a
// lock-free map lookup and one atomic add; a background flusher writes the
// counts to the store every few seconds, one row per app and UTC hour, and
// reads back the day's totals of all nodes so that a quota holds across a
// cluster sharing one database (with a lag of one flush interval) and across
// restarts. With a cluster engine's tally (SetTally: the Redis engine), each
// flush also adds the node's counts to the cluster's day in Redis and reads
// every node's back, so quotas and the console count the whole cluster
// whatever the store; connections then come from the engine's exchange.
package usage
