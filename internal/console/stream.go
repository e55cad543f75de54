package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

const keepAlive = 15 * time.Second

// stream serves an app's debug console as Server-Sent Events: one "entry"
// event per Entry, a "dropped" entry when the browser fell behind, a
// comment every 15 s to keep proxies from closing the stream, and an
// "expired" event when the session ends.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	wt, err := c.opts.Tap.watch(a.ID)
	if errors.Is(err, errTooManyWatchers) {
		return errorf(http.StatusTooManyRequests, "too many debug consoles are open: close one and retry")
	}
	defer c.opts.Tap.unwatch(wt)

	rc := http.NewResponseController(w)
	// The server's read and write timeouts would otherwise end the stream;
	// write moves the write deadline before every write.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 3000\n: watching app " + a.ID + "\n\n")); err != nil {
		return nil
	}
	_ = rc.Flush()

	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	var buf []Entry
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-c.closed:
			return nil
		case <-tick.C:
			if _, err := c.auth.session(r); err != nil {
				c.write(rc, w, []byte("event: expired\ndata: {}\n\n"))
				return nil
			}
			if !c.write(rc, w, []byte(": keep-alive\n\n")) {
				return nil
			}
			continue
		case <-wt.notify:
		}
		var dropped int
		buf, dropped = wt.drain(buf[:0])
		out := make([]byte, 0, 256*len(buf)+64)
		if dropped > 0 {
			out = appendEvent(out, Entry{Type: "dropped", Count: dropped, Time: c.opts.Now().UTC(),
				Message: "the browser fell behind: older entries were dropped"})
		}
		for _, e := range buf {
			out = appendEvent(out, e)
		}
		if !c.write(rc, w, out) {
			return nil
		}
	}
}

// write sends b and flushes it, giving a stuck client 10 s.
func (c *Console) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

func appendEvent(b []byte, e Entry) []byte {
	j, _ := json.Marshal(e) // cannot fail: strings and numbers only
	b = append(b, "data: "...)
	b = append(b, j...)
	return append(b, "\n\n"...)
}
