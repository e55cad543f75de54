package usage

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/store"
)

// run flushes every FlushInterval and at each hour boundary, so that counts
// land in the hour (and day) they were made in.
func (c *Counter) run() {
	defer c.wg.Done()
	t := time.NewTimer(c.nextFlush())
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.Flush(ctx); err != nil {
			c.log.Warn("flush usage", "err", err) // counts are kept and retried
		}
		cancel()
		t.Reset(c.nextFlush())
	}
}

func (c *Counter) nextFlush() time.Duration {
	now := c.opts.Now()
	toHour := now.Truncate(time.Hour).Add(time.Hour).Sub(now) + 10*time.Millisecond
	return min(c.opts.FlushInterval, toHour)
}

type flushed struct {
	a    *appCounter
	n    int64
	peak int64
}

// Flush writes the pending counts to the store, attributed to the hour they
// were counted in, then rolls the hour and day over if the clock has moved
// on and reads back today's totals of all nodes. On error the counts stay
// pending for the next Flush.
func (c *Counter) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	var (
		deltas []store.UsageDelta
		done   []flushed
	)
	c.apps.Range(func(k, v any) bool {
		a := v.(*appCounter)
		n := a.pending.Swap(0)
		a.inflight.Add(n)
		peak := a.peakHour.Load()
		if n != 0 || peak != a.writtenPeak {
			deltas = append(deltas, store.UsageDelta{AppID: k.(string), Hour: c.hour, Messages: n, Peak: peak})
		}
		done = append(done, flushed{a, n, peak})
		return true
	})
	if err := c.opts.Store.AddUsage(ctx, deltas); err != nil {
		for _, f := range done {
			f.a.pending.Add(f.n)
			f.a.inflight.Add(-f.n)
		}
		return err
	}
	for _, f := range done {
		f.a.writtenPeak = f.peak
		f.a.unshared += f.n
	}
	c.share(ctx)
	day := c.day
	c.rollover(ctx)
	if !c.day.Equal(day) {
		c.share(ctx) // the new day's figures
	}
	err := c.refresh(ctx)
	for _, f := range done {
		// After a refresh, base includes these counts (for an instant they
		// are counted twice, which errs on the side of the quota). Without
		// one, base is stale: add what was just written to it.
		if err != nil {
			f.a.base.Add(f.n)
		}
		f.a.inflight.Add(-f.n)
	}
	return err
}

// share adds the counts written to the store since the last share to the
// cluster's tally, attributed to the hour they were counted in, and reads
// back every app's figures of the day from all nodes. On error (Redis
// down: the engine reports that) the counts stay to be shared next time and
// the figures are the store's meanwhile. Must be called with flushMu held,
// before rollover so that the counts land in their hour (and again after a
// new day began, to read it).
func (c *Counter) share(ctx context.Context) {
	r := c.tally.Load()
	if r == nil {
		return
	}
	add := map[string]int64{}
	var read []string
	c.apps.Range(func(k, v any) bool {
		if a := v.(*appCounter); a.unshared > 0 {
			add[k.(string)] = a.unshared
		} else {
			read = append(read, k.(string))
		}
		return true
	})
	totals, err := r.t.TallyMessages(ctx, c.hour, add, read)
	switch {
	case err != nil && !c.tallyFailing:
		c.log.Warn("cluster usage tally unavailable: counting this node's messages until it answers", "err", err)
	case err == nil && c.tallyFailing:
		c.log.Info("cluster usage tally available again")
	}
	c.tallyFailing = err != nil
	if err != nil {
		return
	}
	for app := range add {
		if v, ok := c.apps.Load(app); ok {
			v.(*appCounter).unshared = 0
		}
	}
	for app, d := range totals {
		// Apps new to this node are learnt too, so that its first
		// publish of one is checked against the cluster's count.
		a := c.get(app)
		a.shared.Store(d.Messages)
		a.sharedPeak.Store(d.Peak)
	}
}

// rollover starts a new hour (and day) when the clock has passed one.
// Must be called with flushMu held.
func (c *Counter) rollover(ctx context.Context) {
	now := c.opts.Now().UTC()
	h := now.Truncate(time.Hour)
	if h.Equal(c.hour) {
		return
	}
	c.hour = h
	newDay := !dayOf(now).Equal(c.day)
	c.day = dayOf(now)
	c.dayUnix.Store(c.day.Unix())
	c.apps.Range(func(_, v any) bool {
		a := v.(*appCounter)
		conns := a.conns.Load()
		a.peakHour.Store(conns)
		a.writtenPeak = 0 // a new hour with open connections gets its row
		if newDay {
			a.peakDay.Store(conns)
			a.shared.Store(0) // the next share reads the new day's
			a.sharedPeak.Store(0)
		}
		return true
	})
	if newDay {
		if err := c.opts.Store.PruneUsage(ctx, now.Add(-c.opts.Retention)); err != nil {
			c.log.Warn("prune usage", "err", err)
		}
	}
}

// refresh sets every app's base to today's totals in the store.
// Must be called with flushMu held (or before the flusher starts).
func (c *Counter) refresh(ctx context.Context) error {
	totals, err := c.opts.Store.UsageTotals(ctx, c.day)
	if err != nil {
		return err
	}
	c.apps.Range(func(k, v any) bool {
		if _, ok := totals[k.(string)]; !ok {
			a := v.(*appCounter)
			a.base.Store(0)
			a.basePeak.Store(0)
		}
		return true
	})
	for id, t := range totals {
		a := c.get(id)
		a.base.Store(t.Messages)
		a.basePeak.Store(t.Peak)
	}
	return nil
}

// Close stops the flusher and writes what is pending. It is idempotent.
func (c *Counter) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = c.Flush(ctx)
	})
	return err
}
