package wsconn

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// The read path follows RFC 6455 to the letter; the Pusher layer sees only
// whole, valid UTF-8 text messages. Client input is bounded in two steps
// (README "WebSocket limits"):
//
//   - a data message (one frame, or the sum of its fragments) of at most
//     MaxMessageBytes is handled;
//   - a larger one, up to skipLimit (4 MiB, or 4 × MaxMessageBytes if that is
//     more), is an application-level error: its payload is skipped as it
//     arrives (never buffered, not inspected), the client gets one
//     pusher:error "Message too large", and the connection stays open, as a
//     Pusher client expects;
//   - anything larger is not a sane Pusher message: the connection is closed
//     with 1009 as soon as a frame header shows it (a frame declaring 2^62
//     bytes is refused before one payload byte is read).
//
// Binary messages (which Pusher does not support) are skipped the same way
// with a pusher:error. Every other violation fails the connection (§7.1.7):
// 1002 for framing (unmasked frame, RSV bits, reserved opcodes, control
// frames fragmented or over 125 bytes, continuation errors, bad close
// payloads), 1007 for text that is not UTF-8 (checked fragment by fragment,
// so an invalid first fragment fails at once).
const (
	skipLimitMin    = 4 << 20
	skipLimitFactor = 4
)

// skipLimit is the largest message skipped with a pusher:error; larger ones
// close the connection with 1009.
func (t *Transport) skipLimit() int64 {
	return max(skipLimitMin, skipLimitFactor*int64(t.opts.MaxMessageBytes))
}

// lingerTimeout bounds how long a failed connection is kept half-closed
// while its client reads the close frame (see conn.fail).
const lingerTimeout = 2 * time.Second

// readState is the frame parser's loop-owned state across reads.
type readState struct {
	frag        []byte    // the fragmented text message being assembled
	fragmenting bool      // a fragmented message is in progress
	skipping    bool      // ... and is being skipped (too large, or binary)
	fragSize    int64     // payload bytes of the fragmented message so far
	fragUTF8    utf8State // validation of frag so far
	discard     int64     // payload bytes of a skipped frame still to come
	failed      bool      // a close frame was sent; input is discarded
}

// readFrames handles the inbound buffer. Loop only.
func (c *conn) readFrames() gnet.Action {
	if c.rare != nil && c.rare.rd.failed {
		_, _ = c.gc.Discard(-1)
		return gnet.None
	}
	if c.isClosed() {
		// Our close frame is out (or on its way): whatever the peer sends
		// now, likely its own close frame, ends the connection.
		_, _ = c.gc.Discard(-1)
		return gnet.Close
	}
	buf, _ := c.gc.Peek(-1)
	if c.rare != nil && len(c.rare.early) > 0 { // bytes from before the gnet buffer go first
		c.rare.pendingEarly = false
		buf = append(c.rare.early, buf...)
		c.rare.early = nil
		return c.parse(buf, true)
	}
	n := 0
	act := c.parseCount(buf, &n)
	if c.rare != nil && c.rare.rd.failed {
		_, _ = c.gc.Discard(-1)
	} else if n > 0 { // Discard(0) would drop everything
		_, _ = c.gc.Discard(n)
	}
	return act
}

// parse handles frames in b that did not come from the gnet buffer; leftover
// partial bytes are kept in c.rare.early. fromBuf says whether b includes the gnet
// buffer (which is then discarded whole).
func (c *conn) parse(b []byte, fromBuf bool) gnet.Action {
	n := 0
	act := c.parseCount(b, &n)
	if fromBuf {
		_, _ = c.gc.Discard(-1) // all of it: b holds a copy
	}
	if n < len(b) && !c.r().rd.failed {
		c.r().early = append([]byte(nil), b[n:]...)
	} else if c.rare != nil {
		c.rare.early = nil
	}
	return act
}

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     ws.OpCode
	masked bool
	mask   [4]byte
	length uint64
}

// parseHeader parses the frame header at the start of b. It returns the
// header's size, or 0 if b does not hold all of it yet; msb reports a 64-bit
// length with its most significant bit set (§5.2: must be 0).
func parseHeader(b []byte) (h frameHeader, size int, msb bool) {
	if len(b) < 2 {
		return h, 0, false
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = (b[0] >> 4) & 0x7
	h.op = ws.OpCode(b[0] & 0x0f)
	h.masked = b[1]&0x80 != 0
	size = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, false
		}
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
		size = 4
	case 127:
		if len(b) < 10 {
			return h, 0, false
		}
		h.length = binary.BigEndian.Uint64(b[2:])
		if h.length>>63 != 0 {
			return h, 10, true
		}
		size = 10
	default:
		h.length = uint64(l)
	}
	if h.masked {
		if len(b) < size+4 {
			return h, 0, false
		}
		copy(h.mask[:], b[size:size+4])
		size += 4
	}
	return h, size, false
}

// parseCount handles complete frames in b, adding the bytes consumed to *n.
func (c *conn) parseCount(b []byte, n *int) gnet.Action {
	for {
		if c.rare != nil && c.rare.rd.discard > 0 {
			rd := &c.rare.rd
			k := int(min(rd.discard, int64(len(b))))
			rd.discard -= int64(k)
			b = b[k:]
			*n += k
			if rd.discard > 0 {
				return gnet.None
			}
		}
		h, hl, msb := parseHeader(b)
		switch {
		case msb:
			return c.fail(1002, "frame length has its most significant bit set")
		case hl == 0:
			return gnet.None
		}
		if act, ok := c.checkHeader(h); !ok {
			return act
		}
		if h.op.IsData() { // continuation too
			if act, skip := c.sizeData(h); skip || act != gnet.None {
				if act != gnet.None {
					return act
				}
				b = b[hl:]
				*n += hl
				continue
			}
		}
		total := hl + int(h.length) // ≤ MaxMessageBytes or ≤ 125 here
		if len(b) < total {
			return gnet.None
		}
		payload := b[hl:total]
		ws.Cipher(payload, h.mask, 0)
		b = b[total:]
		*n += total
		if act := c.handleFrame(h, payload); act != gnet.None {
			return act
		}
	}
}

// checkHeader applies the framing rules that need no payload (§5.2, §5.4,
// §5.5). ok is false when the connection failed.
func (c *conn) checkHeader(h frameHeader) (gnet.Action, bool) {
	fragmenting := c.rare != nil && c.rare.rd.fragmenting
	switch {
	case !h.masked:
		return c.fail(1002, "client frames must be masked"), false
	case h.rsv != 0:
		return c.fail(1002, "reserved bits set but no extension was negotiated"), false
	case h.op > ws.OpBinary && h.op < ws.OpClose || h.op > ws.OpPong:
		return c.fail(1002, "reserved opcode "+itoa(int(h.op))), false
	case h.op.IsControl() && !h.fin:
		return c.fail(1002, "fragmented control frame"), false
	case h.op.IsControl() && h.length > 125:
		return c.fail(1002, "control frame over 125 bytes"), false
	case h.op == ws.OpContinuation && !fragmenting:
		return c.fail(1002, "continuation frame without a message"), false
	case h.op != ws.OpContinuation && h.op.IsData() && fragmenting:
		return c.fail(1002, "new message inside a fragmented one"), false
	}
	return gnet.None, true
}

// sizeData decides what happens to a data frame's payload before any of it
// is read: skip reports that the payload is to be skipped (c.rare.rd.discard
// is set and the fragment state updated); a non-None action means the
// connection failed (1009). When it returns neither, it changed nothing: the
// header is parsed again until the whole frame is in the buffer.
func (c *conn) sizeData(h frameHeader) (act gnet.Action, skip bool) {
	limit, skipLimit := int64(c.t.opts.MaxMessageBytes), c.t.skipLimit()
	var size int64 // the message's size so far, this frame included
	if h.op == ws.OpContinuation {
		size = c.rare.rd.fragSize
	}
	if h.length > uint64(skipLimit) || size+int64(h.length) > skipLimit {
		return c.fail(1009, "message over "+strconv.FormatInt(skipLimit, 10)+" bytes"), false
	}
	size += int64(h.length)
	if h.op == ws.OpContinuation {
		rd := &c.rare.rd
		if !rd.skipping && size <= limit {
			return gnet.None, false // fragment counts it
		}
		if !rd.skipping {
			rd.skipping, rd.frag, rd.fragUTF8 = true, nil, utf8State{}
			c.sendError(tooLarge(c.t.opts.MaxMessageBytes))
		}
		rd.fragSize = size
		rd.discard = int64(h.length)
		if h.fin {
			rd.fragmenting, rd.skipping, rd.fragSize = false, false, 0
		}
		return gnet.None, true
	}
	switch {
	case h.op == ws.OpBinary:
		c.sendError(&protocol.Error{Message: "Binary frames are not supported"})
	case size > limit:
		c.sendError(tooLarge(c.t.opts.MaxMessageBytes))
	default:
		return gnet.None, false
	}
	rd := &c.r().rd
	rd.discard = int64(h.length)
	if !h.fin {
		rd.fragmenting, rd.skipping, rd.fragSize = true, true, size
	}
	return gnet.None, true
}

func tooLarge(limit int) *protocol.Error {
	return &protocol.Error{Message: "Message too large: the limit is " + itoa(limit) + " bytes"}
}

// handleFrame handles one unmasked frame that passed checkHeader and
// sizeData (a text frame or fragment within MaxMessageBytes, or a control
// frame).
func (c *conn) handleFrame(h frameHeader, p []byte) gnet.Action {
	switch h.op {
	case ws.OpPing:
		c.sendControl(opPong, p)
	case ws.OpPong:
	case ws.OpClose:
		return c.closeFrame(p)
	case ws.OpText:
		if h.fin {
			if !utf8.Valid(p) {
				return c.fail(1007, "text message is not valid UTF-8")
			}
			c.handleMessage(p)
			return gnet.None
		}
		rd := &c.r().rd
		rd.fragmenting, rd.fragSize, rd.fragUTF8 = true, 0, utf8State{}
		return c.fragment(p, false)
	case ws.OpContinuation:
		return c.fragment(p, h.fin)
	}
	return gnet.None
}

// fragment appends a text fragment, validating its UTF-8 at once, and
// handles the message at its last fragment.
func (c *conn) fragment(p []byte, last bool) gnet.Action {
	rd := &c.rare.rd
	if !rd.fragUTF8.feed(p) || (last && !rd.fragUTF8.complete()) {
		return c.fail(1007, "text message is not valid UTF-8")
	}
	rd.frag = append(rd.frag, p...)
	rd.fragSize += int64(len(p))
	if !last {
		return gnet.None
	}
	msg := rd.frag
	rd.frag, rd.fragmenting, rd.fragSize = nil, false, 0
	c.handleMessage(msg)
	return gnet.None
}

// closeFrame answers the client's close frame (§5.5.1, §7.4): a valid one
// is echoed with its code (1000 when it has none) and the connection closed.
func (c *conn) closeFrame(p []byte) gnet.Action {
	code := 1000
	switch {
	case len(p) == 1:
		return c.fail(1002, "close frame with a 1-byte payload")
	case len(p) >= 2:
		code = int(binary.BigEndian.Uint16(p))
		if !validCloseCode(code) {
			return c.fail(1002, "invalid close code "+itoa(code))
		}
		if !utf8.Valid(p[2:]) {
			return c.fail(1007, "close reason is not valid UTF-8")
		}
	}
	if !c.flushAndClaim() {
		return gnet.Close
	}
	r := c.r()
	r.reason, r.closeCode = "client closed ("+itoa(code)+")", code
	b := appendClose(nil, code, "")
	c.wrote(len(b))
	_, _ = c.gc.Write(b)
	return gnet.Close
}

// flushAndClaim writes what is pending and marks the connection closed so
// that nothing is written after the close frame the caller sends next. It
// returns false if the connection was already closed (flush may close it
// when a server close was pending). Loop only.
func (c *conn) flushAndClaim() bool {
	if c.rare != nil { // parsed now or never: no re-entry into the parser
		c.rare.pendingEarly, c.rare.early = false, nil
	}
	c.flush()
	if !c.isClosed() {
		c.handOver(math.MaxInt) // all of it goes before the close frame
	}
	c.mu.Lock()
	done := c.closed
	c.closed = true
	c.mu.Unlock()
	return !done
}

// validCloseCode reports whether a client may send code (§7.4: the codes
// defined for use in a close frame, those IANA registered since, 3000–4999).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// fail fails the WebSocket connection (§7.1.7): what is pending goes out,
// then a close frame with code; the write side is shut so the client gets
// the close frame before the FIN, and what it still sends is discarded until
// it closes or lingerTimeout passes (closing at once would reset the
// connection over unread input, and the client could lose the close frame).
// Loop only.
func (c *conn) fail(code int, reason string) gnet.Action {
	c.t.log.Warn("websocket protocol violation; connection closed", "code", code, "reason", reason)
	if !c.flushAndClaim() {
		return gnet.Close
	}
	r := c.r()
	r.reason, r.closeCode = reason, code
	r.rd = readState{failed: true}
	b := appendClose(nil, code, reason)
	c.wrote(len(b))
	_, _ = c.gc.Write(b)
	if c.gc.OutboundBuffered() == 0 { // all in the kernel: the FIN follows it
		if err := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); err != nil {
			return gnet.Close
		}
	} // else gnet writes the rest as the socket drains; the sweeper's close flushes it
	d := &waitDeadline{}
	d.set(lingerTimeout)
	c.t.regMu.Lock()
	c.t.waiting[c.gc] = d // the sweeper closes it when d passes
	c.t.regMu.Unlock()
	return gnet.None
}

func (c *conn) sendError(e *protocol.Error) {
	c.Send(protocol.AppendError(nil, e))
}
