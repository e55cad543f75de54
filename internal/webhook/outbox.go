package webhook

import (
	"context"
	"time"
)

// Outbox is the durable store behind a Sender: events waiting to be batched,
// batches waiting to be delivered and dead letters. The Sender's writer
// goroutine is the only caller of Append and Seal; the other methods may be
// called concurrently. Implementations must be safe for concurrent use and
// make each method atomic: a crash leaves the outbox as before or after it.
//
// The SQLite implementation is the default; a clustered deployment may plug
// in another (Redis) with the same contract.
type Outbox interface {
	// Append durably stores entries and sets their ID (increasing in the
	// order given).
	Append(ctx context.Context, entries []*Entry) error
	// Unsealed returns every appended entry not yet sealed into a batch,
	// in ID order. The Sender calls it once, on start, to recover.
	Unsealed(ctx context.Context) ([]*Entry, error)
	// Seal stores batches as pending (each behind the existing batches of
	// its lane) and deletes the entries with the given IDs, in one step.
	Seal(ctx context.Context, batches []*Batch, entryIDs []int64) error
	// Lanes returns the lanes that have pending batches.
	Lanes(ctx context.Context) ([]Lane, error)
	// Head returns the oldest pending batch of a lane, or nil.
	Head(ctx context.Context, l Lane) (*Batch, error)
	// Settle records the outcome of an attempt at the batch with id.
	Settle(ctx context.Context, id string, r Result) error
	// DeadLetters returns dead batches matching f, oldest first.
	DeadLetters(ctx context.Context, f Filter) ([]*Batch, error)
	// Replay moves the dead batches matching f back to the end of their
	// lanes with a fresh retry horizon, and returns how many it moved.
	Replay(ctx context.Context, f Filter) (int, error)
	// Purge deletes the dead batches matching f (f.Limit is ignored) and
	// returns how many it deleted.
	Purge(ctx context.Context, f Filter) (int, error)
	// Size returns how many events wait in the outbox: unsealed entries
	// plus the events of pending (not dead) batches.
	Size(ctx context.Context) (int64, error)
	// Oldest returns when the longest-waiting event still in the outbox was
	// stored: the oldest unsealed entry or pending (not dead) batch, by its
	// creation (a replayed batch counts from its replay). Zero when none
	// waits.
	Oldest(ctx context.Context) (time.Time, error)
}

// Entry is one event addressed to one endpoint, stored until it is sealed
// into a batch.
type Entry struct {
	ID    int64 // set by Outbox.Append
	AppID string
	URL   string
	Group string    // endpoint identity: only entries of one group share a batch
	Time  time.Time // when the event happened (millisecond precision)
	Event []byte    // the event's JSON object (protocol.md §7.2)
}

// Lane is the unit of ordered delivery: one URL of one app.
type Lane struct {
	AppID string
	URL   string
}

// Batch is one webhook request: events of one endpoint of one app.
type Batch struct {
	ID        string    // stable; sent as X-Pusher-Webhook-Id
	AppID     string    //
	URL       string    //
	Body      []byte    // the exact request body
	Events    int       // number of events in Body
	Created   time.Time // sealed (or replayed); the retry horizon runs from here
	Attempts  int       // attempts made so far
	NextAt    time.Time // earliest next attempt
	LastError string    // why the last attempt failed
	Dead      bool      // dead-lettered
	Updated   time.Time // last change
}

// Lane returns the batch's lane.
func (b *Batch) Lane() Lane { return Lane{b.AppID, b.URL} }

// State is an attempt's outcome.
type State uint8

// Attempt outcomes.
const (
	Delivered State = iota + 1 // 2xx: remove the batch
	Retry                      // failed: try again at Result.NextAt
	Dead                       // failed for good: keep as a dead letter
)

// Result is what Settle records.
type Result struct {
	State    State
	Attempts int       // total attempts so far
	NextAt   time.Time // for Retry
	Err      string    // for Retry and Dead
}

// Filter selects dead letters. The zero Filter selects all of them.
type Filter struct {
	AppID string   // only this app ("" = any)
	IDs   []string // only these batch ids (nil = any)
	Limit int      // at most this many (0 = no limit)
	// DeadBefore selects only batches dead-lettered before it (zero = any).
	DeadBefore time.Time
}
