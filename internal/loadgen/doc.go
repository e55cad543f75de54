// Package loadgen is Pixiu's load tool (cmd/pixiu-bench): it speaks the Pusher
// Channels protocol itself against any Pusher-compatible server on loopback
// and measures the figures of the performance issue — server RSS per idle
// connection, fan-out deliveries per second with trigger→receipt latency and
// loss/duplicate counts, signed REST publish throughput, and connect →
// subscribe → close churn — together with the server's CPU and RSS (read from
// /proc) and the tool's own CPU.
//
// The tool must be cheap or it measures itself, so long-lived sockets are read
// by a gnet event loop (a handful of goroutines for any number of sockets);
// only the WebSocket upgrade and the first frame are done synchronously on the
// dialled net.Conn before it is enrolled into the loop. Incoming frames are
// parsed in place without json.Unmarshal.
//
// It refuses any target outside 127.0.0.0/8 and ::1 (see ResolveTarget): a
// load tool pointed at someone else's server is an attack.
//
// Every scenario is bounded by count and by time and stops by itself.
package loadgen
