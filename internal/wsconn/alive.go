package wsconn

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// sweepStall is how long the sweeper may go without a pass before Alive
// reports the process stuck (it passes every second).
const sweepStall = 15 * time.Second

// liveness is what Alive checks besides the event loops.
type liveness struct {
	sweptAt atomic.Int64 // unix nanos of the sweeper's last pass
}

// Alive reports whether the transport still works: a no-op task round-trips
// through every event loop that has held a connection (each connection,
// the probe's own included, registers its loop on open), and the sweeper
// has passed recently. It waits at most until ctx is done. It says nothing
// about the cluster engine: that is readiness, not liveness.
func (t *Transport) Alive(ctx context.Context) error {
	if last := t.live.sweptAt.Load(); last != 0 && time.Since(time.Unix(0, last)) > sweepStall {
		return fmt.Errorf("wsconn: the connection sweeper has not run for %s", time.Since(time.Unix(0, last)).Round(time.Second))
	}
	var pending []chan struct{}
	var err error
	t.loops.Range(func(_, v any) bool {
		done := make(chan struct{})
		if e := v.(*loop).el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			close(done)
			return nil
		})); e != nil {
			err = fmt.Errorf("wsconn: event loop: %w", e)
			return false
		}
		pending = append(pending, done)
		return true
	})
	if err != nil {
		return err
	}
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return errors.New("wsconn: an event loop did not run a task in time")
		}
	}
	return nil
}
