package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
)

// maxBatchBytes seals a batch early when its body would grow past it.
const maxBatchBytes = 512 << 10

// retryStoreAfter is how long the writer waits before retrying a failed
// outbox write.
const retryStoreAfter = time.Second

// writer is the state of the writer goroutine, which alone appends to and
// seals in the outbox.
type writer struct {
	recs    []record          // scratch
	unsaved []*Entry          // entries whose Append failed, retried first
	groups  map[string]*group // open batches by app and endpoint
	retryAt time.Time         // after a failed outbox write
}

// group is an open batch: stored entries of one endpoint of one app.
type group struct {
	appID, url string
	first      time.Time // the oldest entry's time; sealed at first+BatchInterval
	entries    []*Entry
	bytes      int
	misses     map[string]struct{} // channels with a cache_miss in this batch
}

func (w *writer) init() {
	w.groups = make(map[string]*group)
}

// runWriter moves records from the queue into the outbox and seals batches.
func (s *Sender) runWriter() {
	defer close(s.writerDone)
	s.recoverUnsealed()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		queue, wake := s.queue, s.spillWake
		if len(s.w.unsaved) >= s.opts.SpillMax {
			// The outbox is failing: stop reading, let the queue and the
			// spill list fill up (and then drop, counted).
			queue, wake = nil, nil
		}
		s.w.recs = s.w.recs[:0]
		select {
		case r := <-queue:
			s.w.recs = append(s.w.recs, r)
			s.drain()
		case <-wake:
			s.drain()
		case <-t.C:
		case <-s.writerStop:
			s.drain()
			now := time.Now()
			s.store(now, true)
			s.seal(now, true)
			if n := len(s.w.unsaved); n > 0 {
				s.stats.dropped[dropWriteFailed].Add(int64(n))
				s.log.Error("webhook events lost: the outbox refused them until shutdown", "events", n)
			}
			return
		}
		now := time.Now()
		s.store(now, false)
		next := s.seal(now, false)
		t.Reset(max(time.Until(next), 0))
	}
}

// drain appends queued records to w.recs: the whole queue, then the spill
// list once the queue is empty (records spill only while the queue is full
// or the spill list is not empty, so this keeps each goroutine's records in
// order).
func (s *Sender) drain() {
	for range cap(s.queue) {
		select {
		case r := <-s.queue:
			s.w.recs = append(s.w.recs, r)
			continue
		default:
		}
		s.spillMu.Lock()
		s.w.recs = append(s.w.recs, s.spill...)
		clear(s.spill)
		s.spill = s.spill[:0]
		if cap(s.spill) > 4096 {
			s.spill = nil
		}
		s.spilling.Store(false)
		s.spillMu.Unlock()
		return
	}
	if s.spilling.Load() { // the queue refilled while draining: come back for the spill list
		select {
		case s.spillWake <- struct{}{}:
		default:
		}
	}
}

// recoverUnsealed seals the entries a previous run stored but did not seal.
// It retries until it can read them (or Close), so that they are sealed
// before, and delivered ahead of, anything newer.
func (s *Sender) recoverUnsealed() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		list, err := s.opts.Outbox.Unsealed(ctx)
		cancel()
		if err == nil {
			for _, e := range list {
				s.add(e)
			}
			if len(list) > 0 {
				s.log.Info("webhook recovery: events stored before the last stop", "events", len(list))
			}
			s.seal(time.Now(), true)
			return
		}
		s.storeError("webhook recovery: read unsealed events (retrying)", err)
		select {
		case <-time.After(retryStoreAfter):
		case <-s.writerStop:
			return // they stay in the outbox for the next start
		}
	}
}

// store encodes w.recs and appends them (after any unsaved ones) to the
// outbox; after a failed append it waits retryStoreAfter unless force is set.
func (s *Sender) store(now time.Time, force bool) {
	w := &s.w
	for _, r := range w.recs {
		if r.ev.Kind == hub.CacheMiss && s.duplicateMiss(r) {
			continue // protocol.md §3.13: one cache_miss per channel per batch
		}
		w.unsaved = append(w.unsaved, &Entry{AppID: r.ev.AppID, URL: r.ep.URL, Group: r.ev.AppID + "\n" + groupOf(&r.ep),
			Time: r.at, Event: encodeEvent(r.ev)})
	}
	clear(w.recs)
	w.recs = w.recs[:0]
	s.capUnsaved()
	if len(w.unsaved) == 0 || (now.Before(w.retryAt) && !force) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := s.opts.Outbox.Append(ctx, w.unsaved)
	cancel()
	if err != nil {
		w.retryAt = now.Add(retryStoreAfter)
		s.storeError("webhook outbox: append (retrying)",
			err, "events", len(w.unsaved))
		return
	}
	s.stats.queued.Add(int64(len(w.unsaved)))
	s.outboxEvents.Add(int64(len(w.unsaved)))
	for _, e := range w.unsaved {
		s.add(e)
	}
	clear(w.unsaved)
	w.unsaved = w.unsaved[:0]
}

// capUnsaved drops the newest unsaved entries that would take the outbox
// past MaxOutboxEvents: the oldest waiting events keep their place.
func (s *Sender) capUnsaved() {
	w := &s.w
	if s.opts.MaxOutboxEvents < 0 || len(w.unsaved) == 0 {
		return
	}
	room := max(s.opts.MaxOutboxEvents-s.outboxEvents.Load(), 0)
	if int64(len(w.unsaved)) <= room {
		return
	}
	keep := int(room)
	s.drop(dropOutboxFull, int64(len(w.unsaved)-keep))
	clear(w.unsaved[keep:])
	w.unsaved = w.unsaved[:keep]
}

// duplicateMiss reports whether r's endpoint already has a cache_miss for
// r's channel in its open batch, and otherwise notes this one. It runs
// before the entry exists, so it tracks misses by group.
func (s *Sender) duplicateMiss(r record) bool {
	g := s.group(r.ev.AppID, r.ep.URL, r.ev.AppID+"\n"+groupOf(&r.ep), r.at)
	if _, dup := g.misses[r.ev.Channel]; dup {
		return true
	}
	if g.misses == nil {
		g.misses = make(map[string]struct{})
	}
	g.misses[r.ev.Channel] = struct{}{}
	return false
}

func (s *Sender) group(appID, url, key string, at time.Time) *group {
	g := s.w.groups[key]
	if g == nil {
		g = &group{appID: appID, url: url, first: at}
		s.w.groups[key] = g
	}
	return g
}

// add puts a stored entry into its endpoint's open batch.
func (s *Sender) add(e *Entry) {
	g := s.group(e.AppID, e.URL, e.Group, e.Time)
	if len(g.entries) == 0 {
		g.first = e.Time
	}
	g.entries = append(g.entries, e)
	g.bytes += len(e.Event) + 1
}

// seal seals the open batches that are full or old enough (all of them when
// all is set) and returns when the writer should run next.
func (s *Sender) seal(now time.Time, all bool) time.Time {
	w := &s.w
	next := now.Add(time.Hour)
	if len(w.unsaved) > 0 {
		next = w.retryAt
	}
	if now.Before(w.retryAt) && !all {
		return next
	}
	var (
		batches []*Batch
		ids     []int64
		keys    []string
	)
	for k, g := range w.groups {
		if len(g.entries) == 0 {
			if now.Sub(g.first) >= s.opts.BatchInterval || all {
				delete(w.groups, k) // only a de-duplicated cache_miss was here
			} else {
				next = minTime(next, g.first.Add(s.opts.BatchInterval))
			}
			continue
		}
		due := g.first.Add(s.opts.BatchInterval)
		if !all && now.Before(due) && len(g.entries) < s.opts.BatchMax && g.bytes < maxBatchBytes {
			next = minTime(next, due)
			continue
		}
		for _, chunk := range s.chunks(g.entries) {
			batches = append(batches, s.newBatch(g, chunk, now))
			for _, e := range chunk {
				ids = append(ids, e.ID)
			}
		}
		keys = append(keys, k)
	}
	if len(batches) == 0 {
		return next
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := s.opts.Outbox.Seal(ctx, batches, ids)
	cancel()
	if err != nil {
		w.retryAt = now.Add(retryStoreAfter)
		s.storeError("webhook outbox: seal (retrying)", err, "batches", len(batches))
		return w.retryAt
	}
	for _, k := range keys {
		delete(w.groups, k)
	}
	lanes := make([]Lane, 0, len(batches))
	for _, b := range batches {
		lanes = append(lanes, b.Lane())
	}
	s.sched.markDirty(lanes)
	return next
}

// chunks splits entries into batches of at most BatchMax events and about
// maxBatchBytes. An event on a private-encrypted-* channel is a batch of its
// own: pusher-http-go's Webhook fails the whole body when it cannot decrypt
// one event of such a channel, which it cannot for events without data
// (channel_occupied, subscription_count, …), so batched with others it would take
// them down too; alone it fails exactly as with Pusher's unbatched webhooks.
func (s *Sender) chunks(entries []*Entry) [][]*Entry {
	var out [][]*Entry
	start, size := 0, 0
	prevAlone := false
	for i, e := range entries {
		alone := encryptedChannelEvent(e.Event)
		if i > start && (alone || prevAlone || i-start >= s.opts.BatchMax || size+len(e.Event) > maxBatchBytes) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += len(e.Event) + 1
		prevAlone = alone
	}
	return append(out, entries[start:])
}

// encryptedChannelEvent reports whether ev, an event object as encodeEvent
// writes it ({"name":"…","channel":"…",…}: the first "channel" key is the
// event's own, a name never holds a quote), is on a private-encrypted-*
// channel.
func encryptedChannelEvent(ev []byte) bool {
	const key = `"channel":"`
	i := bytes.Index(ev, []byte(key))
	return i >= 0 && bytes.HasPrefix(ev[i+len(key):], []byte("private-encrypted-"))
}

func (s *Sender) newBatch(g *group, entries []*Entry, now time.Time) *Batch {
	events := make([][]byte, len(entries))
	for i, e := range entries {
		events[i] = e.Event
	}
	return &Batch{
		ID:      rand.Text(),
		AppID:   g.appID,
		URL:     g.url,
		Body:    body(entries[0].Time, events),
		Events:  len(entries),
		Created: now,
		NextAt:  now,
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
