// Package webhook delivers Pusher webhooks (protocol.md §7) so that none get
// lost: it turns hub lifecycle events into signed, batched HTTP POSTs, writes
// every event to a durable Outbox before it is batched, retries failed
// batches with exponential back-off and jitter for a retry horizon, and keeps
// what still failed as dead letters an operator can list and replay.
//
// The path of one event:
//
//  1. Sender.Observe (any goroutine, never blocks) filters by the app's
//     endpoints, applies the vacate/remove hold (protocol.md §7.3) and hands
//     one record per interested endpoint to a bounded queue; when the queue is
//     full, records spill into a bounded overflow list; past that they are
//     dropped, counted and logged.
//  2. The writer goroutine appends the records to the Outbox in one
//     transaction, then groups them per (app, endpoint) and seals a group into
//     a Batch at BatchInterval or BatchMax events (never mixing apps).
//  3. The scheduler goroutine keeps one lane per (app, URL): the oldest
//     pending batch is attempted by a bounded set of delivery goroutines, and
//     a newer batch never overtakes an older one of the same lane. A slow or
//     dead endpoint holds at most one request at a time; its backlog waits in
//     the Outbox, not in memory.
//
// The outbox is bounded: past Options.MaxOutboxEvents waiting events the
// writer drops new ones (reason outbox_full), and the janitor goroutine
// deletes dead letters older than Options.DeadLetterRetention. Outbox write
// failures (a full disk) are retried and logged at most once a minute.
//
// Delivery is at-least-once: a batch is removed from the Outbox only after a
// 2xx answer, and every request carries the batch's stable
// X-Pusher-Webhook-Id so receivers can de-duplicate. Events still in the
// queue or inside the hold window when the process is killed are lost; every
// event that reached the Outbox is delivered after a restart.
//
// The package must not touch connections or call back into the hub.
package webhook
