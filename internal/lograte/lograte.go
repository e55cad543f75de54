// Package lograte limits log lines a remote party can cause: a slog.Handler
// that passes at most N records of each kind per interval and then writes one
// summary of how many it suppressed, so a hostile client cannot flood the log.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// MaxKinds bounds the kinds tracked; records of further kinds share one
// bucket, so memory stays bounded whatever the messages are.
const MaxKinds = 128

// otherKind is the bucket of the kinds past MaxKinds.
const otherKind = "(other messages)"

// SummaryMessage is the message of the summary record; its attributes are
// kind (the suppressed records' message), suppressed (how many) and interval.
const SummaryMessage = "log lines suppressed"

// Handler limits records at or above slog.LevelWarn; a record's kind is its
// message. Records below Warn pass through untouched. Handlers derived with
// WithAttrs and WithGroup share the limits of the one they came from.
type Handler struct {
	inner slog.Handler
	s     *state
}

type state struct {
	n     int
	every time.Duration

	mu    sync.Mutex         // guards kinds and every bucket
	kinds map[string]*bucket // at most MaxKinds+1 entries
}

// bucket counts one kind's records in the current interval.
type bucket struct {
	start      time.Time
	passed     int
	suppressed int
	level      slog.Level   // of the first suppressed record
	h          slog.Handler // that record's handler, for the summary's attributes
}

// New returns a handler passing at most n records per kind every interval to
// h. n < 1 means 1; interval ≤ 0 means one minute.
func New(h slog.Handler, n int, interval time.Duration) *Handler {
	if n < 1 {
		n = 1
	}
	if interval <= 0 {
		interval = time.Minute
	}
	return &Handler{inner: h, s: &state{n: n, every: interval, kinds: make(map[string]*bucket)}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(as), s: h.s}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), s: h.s}
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.inner.Handle(ctx, r)
	}
	if h.s.admit(r.Message, r.Level, h.inner) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

// admit counts a record of kind and reports whether it may be written. The
// first record it refuses in an interval schedules the summary for the
// interval's end.
func (s *state) admit(kind string, l slog.Level, h slog.Handler) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.kinds[kind]
	if b == nil {
		if len(s.kinds) >= MaxKinds {
			kind = otherKind
			b = s.kinds[kind]
		}
		if b == nil {
			b = &bucket{start: now}
			s.kinds[kind] = b
		}
	}
	if b.suppressed == 0 && now.Sub(b.start) >= s.every {
		b.start, b.passed = now, 0
	}
	if b.passed < s.n {
		b.passed++
		return true
	}
	b.suppressed++
	if b.suppressed == 1 {
		b.level, b.h = l, h
		time.AfterFunc(b.start.Add(s.every).Sub(now), func() { s.summarize(kind) })
	}
	return false
}

// summarize writes the summary of kind's interval and starts a new one.
func (s *state) summarize(kind string) {
	s.mu.Lock()
	b := s.kinds[kind]
	k, l, h := b.suppressed, b.level, b.h
	b.suppressed, b.passed, b.start, b.h = 0, 0, time.Now(), nil
	s.mu.Unlock()
	r := slog.NewRecord(time.Now(), l, SummaryMessage, 0)
	r.AddAttrs(slog.String("kind", kind), slog.Int("suppressed", k), slog.Duration("interval", s.every))
	_ = h.Handle(context.Background(), r)
}
