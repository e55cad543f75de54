package pusher_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/pusher"
)

func TestTriggerAsyncFlushClose(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	c := f.client(func(o *pusher.Options) { o.OnAsyncError = func(err error) { t.Errorf("async error: %v", err) } })
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush before use: %v", err)
	}
	const n = 50
	for i := range n {
		if err := c.TriggerAsync([]string{"c"}, "e", fmt.Sprint(i), nil); err != nil {
			t.Fatalf("TriggerAsync %d: %v", i, err)
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := len(f.received()); got != n {
		t.Fatalf("after Flush %d requests, want %d", got, n)
	}
	if err := c.TriggerAsync([]string{"c"}, "e", "last", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(f.received()); got != n+1 {
		t.Fatalf("Close did not drain: %d requests, want %d", got, n+1)
	}
	if err := c.TriggerAsync([]string{"c"}, "e", "d", nil); !errors.Is(err, pusher.ErrClosed) {
		t.Fatalf("TriggerAsync after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.TriggerContext(ctx, []string{"c"}, "e", "sync", nil); err != nil {
		t.Fatalf("Trigger after Close: %v", err)
	}
}

func TestTriggerAsyncReportsErrors(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	f.respond("POST /apps/3/events", 500, "boom")
	errs := make(chan error, 10)
	c := f.client(func(o *pusher.Options) { o.OnAsyncError = func(err error) { errs <- err } })
	for range 3 {
		if err := c.TriggerAsync([]string{"c"}, "e", "d", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 3 {
		t.Fatalf("%d errors reported, want 3", len(errs))
	}
	var he *pusher.HTTPError
	if err := <-errs; !errors.As(err, &he) || he.Status != 500 {
		t.Fatalf("reported %v, want HTTPError 500", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTriggerAsyncQueueFull(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	release := f.holdRequests()
	c := f.client(func(o *pusher.Options) { o.AsyncQueueSize, o.AsyncWorkers = 1, 1 })

	// One job can sit in the worker and one in the queue: the third at the
	// latest must be refused, at once.
	accepted := 0
	for range 3 {
		err := c.TriggerAsync([]string{"c"}, "e", "d", nil)
		if errors.Is(err, pusher.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	if accepted == 3 {
		t.Fatal("queue of 1 with 1 worker accepted 3 events")
	}

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while held = %v, want deadline exceeded", err)
	}
	release()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := len(f.received()); got != accepted {
		t.Fatalf("%d requests, want %d", got, accepted)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDeadlineCancelsSends(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	f.holdRequests()
	errs := make(chan error, 1)
	c := f.client(func(o *pusher.Options) { o.OnAsyncError = func(err error) { errs <- err } })
	if err := c.TriggerAsync([]string{"c"}, "e", "d", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return len(f.received()) == 1 })

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("in-flight send ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight send was not cancelled")
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
}

func TestCloseUnused(t *testing.T) {
	t.Parallel()
	c, err := pusher.New(pusher.Options{AppID: "1", Key: "k", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.TriggerAsync([]string{"c"}, "e", "d", nil); !errors.Is(err, pusher.ErrClosed) {
		t.Fatalf("TriggerAsync = %v, want ErrClosed", err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTriggerAsyncNeedsNew: a Client literal (the official SDK's way) has no
// queue; TriggerAsync says so instead of panicking, Flush and Close are no-ops.
func TestTriggerAsyncNeedsNew(t *testing.T) {
	t.Parallel()
	c := pusher.Client{AppID: "1", Key: "k", Secret: "s", Host: "127.0.0.1:1"}
	if err := c.TriggerAsync([]string{"c"}, "e", "d", nil); err == nil {
		t.Fatal("TriggerAsync on a Client literal succeeded")
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
