package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// capture records what reaches the wrapped handler.
type capture struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newCapture() *capture { return &capture{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	r.AddAttrs(c.attrs...)
	c.mu.Lock()
	*c.recs = append(*c.recs, r)
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &capture{mu: c.mu, recs: c.recs, attrs: append(append([]slog.Attr{}, c.attrs...), as...)}
}
func (c *capture) WithGroup(string) slog.Handler { return c }

// count returns how many records have message msg, and the attributes of
// the last one.
func (c *capture) count(msg string) (int, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, attrs := 0, map[string]string{}
	for _, r := range *c.recs {
		if r.Message == msg {
			n++
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		}
	}
	return n, attrs
}

func waitFor(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLimitPerKindWithSummary(t *testing.T) {
	t.Parallel()
	c := newCapture()
	log := slog.New(New(c, 3, 300*time.Millisecond)).With("component", "x")
	for i := 0; i < 10; i++ {
		log.Warn("unknown opcode", "i", i)
		log.Info("info is not limited")
	}
	log.Error("bad frame")
	log.Error("bad frame")
	if n, _ := c.count("unknown opcode"); n != 3 {
		t.Fatalf("%d unknown opcode lines passed, want 3", n)
	}
	if n, _ := c.count("bad frame"); n != 2 {
		t.Fatalf("%d bad frame lines, want 2", n)
	}
	if n, _ := c.count("info is not limited"); n != 10 {
		t.Fatalf("%d info lines, want 10", n)
	}
	waitFor(t, func() error {
		n, a := c.count(SummaryMessage)
		if n != 1 || a["kind"] != "unknown opcode" || a["suppressed"] != "7" || a["component"] != "x" {
			return fmt.Errorf("summaries %d %v", n, a)
		}
		return nil
	})
	// A new interval passes lines again.
	log.Warn("unknown opcode")
	if n, _ := c.count("unknown opcode"); n != 4 {
		t.Fatalf("%d unknown opcode lines after the summary, want 4", n)
	}
}

func TestKindsBounded(t *testing.T) {
	t.Parallel()
	c := newCapture()
	h := New(c, 1, time.Hour)
	log := slog.New(h)
	for i := 0; i < MaxKinds+50; i++ {
		log.Warn(fmt.Sprintf("message %d", i))
	}
	c.mu.Lock()
	n := len(*c.recs)
	c.mu.Unlock()
	if n != MaxKinds+1 || len(h.s.kinds) != MaxKinds+1 {
		t.Fatalf("%d lines passed, %d kinds; want %d", n, len(h.s.kinds), MaxKinds+1)
	}
}
