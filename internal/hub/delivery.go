package hub

import (
	"sync/atomic"
	"time"
)

// Delivery follows one delivered message's frames until the last of them
// has been handed to a socket, then reports how long that took since the
// message reached Deliver (the publish→last-write latency) to
// Options.OnWritten, once per message, never per frame.
//
// A transport that writes frames later (batched per event loop pass) calls
// Hold once for each batch of frames it will write together and Release once
// that batch is written; the hub holds the delivery itself while it fans
// out, so the count cannot reach zero before the last Send. Hold and Release
// are safe for concurrent use.
type Delivery struct {
	start   time.Time
	pending atomic.Int32
	h       *Hub

	// Marks is scratch space for the transport (which of its batches this
	// delivery is already held by). Only the goroutine running Deliver
	// touches it; it is empty when the delivery reaches the transport.
	Marks []uint32
}

// Hold adds one holder.
func (d *Delivery) Hold() { d.pending.Add(1) }

// Release drops one holder; the last one reports the latency.
func (d *Delivery) Release() {
	if d.pending.Add(-1) != 0 {
		return
	}
	d.h.opts.OnWritten(time.Since(d.start))
	d.h.deliveries.Put(d)
}

// newDelivery returns a delivery held once by the hub, or nil when no one
// wants the latency.
func (h *Hub) newDelivery() *Delivery {
	if h.opts.OnWritten == nil {
		return nil
	}
	d, _ := h.deliveries.Get().(*Delivery)
	if d == nil {
		d = &Delivery{h: h}
	}
	d.Marks = d.Marks[:0]
	d.start = time.Now()
	d.pending.Store(1)
	return d
}

// endDelivery drops the hub's hold once the fan-out is done; with no
// frame sent there is nothing to report.
func (h *Hub) endDelivery(d *Delivery, sent int) {
	if d == nil {
		return
	}
	if sent == 0 {
		if d.pending.Add(-1) == 0 {
			h.deliveries.Put(d)
		}
		return
	}
	d.Release()
}
