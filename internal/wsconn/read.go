package wsconn

import (
	"io"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// readFrames handles the inbound buffer. Loop only.
func (c *conn) readFrames() gnet.Action {
	buf, _ := c.gc.Peek(-1)
	if c.rare != nil && len(c.rare.early) > 0 && !c.rare.pendingEarly {
		buf = append(c.rare.early, buf...)
		c.rare.early = nil
		return c.parse(buf, true)
	}
	n := 0
	act := c.parseCount(buf, &n)
	if n > 0 { // Discard(0) would drop everything
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
	if n < len(b) {
		c.r().early = append([]byte(nil), b[n:]...)
	} else if c.rare != nil {
		c.rare.early = nil
	}
	return act
}

// parseCount handles complete frames in b, adding the bytes consumed to *n.
func (c *conn) parseCount(b []byte, n *int) gnet.Action {
	for {
		if c.rare != nil && c.rare.discard > 0 {
			k := min(c.rare.discard, len(b))
			c.rare.discard -= k
			b = b[k:]
			*n += k
			if c.rare.discard > 0 {
				return gnet.None
			}
		}
		if len(b) < 2 {
			return gnet.None
		}
		r := byteReader{b: b}
		h, err := ws.ReadHeader(&r)
		if err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return gnet.None
			}
			return c.protocolError(1002, "bad frame header")
		}
		hl := r.i
		switch {
		case !h.Masked:
			return c.protocolError(1002, "client frames must be masked")
		case h.Rsv != 0:
			return c.protocolError(1002, "no extension was negotiated")
		case h.OpCode.IsControl() && (!h.Fin || h.Length > 125):
			return c.protocolError(1002, "bad control frame")
		}
		fragLen := 0
		if c.rare != nil {
			fragLen = len(c.rare.frag)
		}
		if h.Length > int64(c.t.opts.MaxMessageBytes) || int64(fragLen)+h.Length > int64(c.t.opts.MaxMessageBytes) {
			if h.OpCode.IsControl() {
				return c.protocolError(1002, "control frame too long")
			}
			r := c.r()
			r.frag, r.fragmenting = nil, false
			r.discard = int(h.Length)
			b = b[hl:]
			*n += hl
			c.sendError(&protocol.Error{Message: "Message too large: the limit is " + itoa(c.t.opts.MaxMessageBytes) + " bytes"})
			continue
		}
		total := hl + int(h.Length)
		if len(b) < total {
			return gnet.None
		}
		payload := b[hl:total]
		ws.Cipher(payload, h.Mask, 0)
		b = b[total:]
		*n += total
		if act := c.handleFrame(h, payload); act != gnet.None {
			return act
		}
	}
}

func (c *conn) handleFrame(h ws.Header, p []byte) gnet.Action {
	switch h.OpCode {
	case ws.OpPing:
		c.sendControl(opPong, p)
	case ws.OpPong:
	case ws.OpClose:
		code := 1000
		if len(p) >= 2 {
			code = int(p[0])<<8 | int(p[1])
		}
		c.r().reason = "client closed (" + itoa(code) + ")"
		c.flush()
		b := appendClose(nil, 1000, "")
		_, _ = c.gc.Write(b)
		return gnet.Close
	case ws.OpText, ws.OpBinary, ws.OpContinuation:
		if h.OpCode == ws.OpBinary {
			c.sendError(&protocol.Error{Message: "Binary frames are not supported"})
			return gnet.None
		}
		fragmenting := c.rare != nil && c.rare.fragmenting
		switch {
		case h.OpCode == ws.OpContinuation && !fragmenting:
			return c.protocolError(1002, "continuation frame without a message")
		case h.OpCode != ws.OpContinuation && fragmenting:
			return c.protocolError(1002, "new message inside a fragmented one")
		}
		if !h.Fin {
			r := c.r()
			r.frag = append(r.frag, p...)
			r.fragmenting = true
			return gnet.None
		}
		if fragmenting {
			r := c.rare
			r.frag = append(r.frag, p...)
			p, r.frag, r.fragmenting = r.frag, nil, false
		}
		c.handleMessage(p)
	default:
		c.t.log.Warn("unknown opcode", "op", h.OpCode, "len", h.Length, "fin", h.Fin)
		return c.protocolError(1002, "unknown opcode")
	}
	return gnet.None
}

// protocolError closes the connection for a WebSocket-level violation.
func (c *conn) protocolError(code int, reason string) gnet.Action {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.r().reason = reason
	_, _ = c.gc.Write(appendClose(nil, code, reason))
	return gnet.Close
}

func (c *conn) sendError(e *protocol.Error) {
	c.Send(protocol.AppendError(nil, e))
}

// byteReader is an io.Reader over b that counts what was read.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}
