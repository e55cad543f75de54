// Package wsconn is the WebSocket transport for GET /app/{key}: the HTTP
// upgrade, then the connection's whole life on a gnet event loop (no
// goroutine per connection): frame parsing, the Pusher message handlers
// (subscribe, client events, sign-in, ping), liveness, and batched writes.
//
// Ownership: a conn's fields marked "loop-owned" are touched only by the event
// loop that holds its socket. Other goroutines (fan-out, REST, the sweeper)
// only call Send and Close, which append to the conn's pending buffer under
// conn.mu and schedule one flush per loop pass; the loop then writes each
// dirty connection once. Lock order: hub shard → conn.mu → loop.mu.
//
// Every callback that handles one connection's input or cleanup defers
// Transport.recovered: a panic closes that connection alone. The transport's
// log is rate-limited per kind (lograte), as clients cause most of its lines.
package wsconn
