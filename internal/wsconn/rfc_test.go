package wsconn

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Autobahn TestSuite cases that apply to a server which never echoes
// data (framing 1–5, UTF-8 6, close 7, limits), run with hand-made frames
// over real sockets. A message the server processes is a pusher:ping,
// answered with pusher:pong.

var pingMsg = []byte(`{"event":"pusher:ping","data":{}}`)

// pingWith returns a pusher:ping message whose data string holds s raw.
func pingWith(s string) []byte { return []byte(`{"event":"pusher:ping","data":"` + s + `"}`) }

func closeFrame(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return frame(fin|opClose, append(p, reason...))
}

func TestRFC6455Framing(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	cases := []struct {
		name   string
		frames [][]byte
		close  int // 0: the connection stays open and processes the ping
	}{
		{"unmasked text", [][]byte{frameMask(opTextF, pingMsg, false)}, 1002},
		{"rsv1 text", [][]byte{frame(0xC0|opText, pingMsg)}, 1002},
		{"rsv2 text", [][]byte{frame(0xA0|opText, pingMsg)}, 1002},
		{"rsv3 text", [][]byte{frame(0x90|opText, pingMsg)}, 1002},
		{"rsv all ping", [][]byte{frame(0xF0|opPing, nil)}, 1002},
		{"reserved opcode 3", [][]byte{frame(fin|3, nil)}, 1002},
		{"reserved opcode 4", [][]byte{frame(fin|4, []byte("x"))}, 1002},
		{"reserved opcode 5", [][]byte{frame(fin|5, nil)}, 1002},
		{"reserved opcode 6", [][]byte{frame(fin|6, nil)}, 1002},
		{"reserved opcode 7", [][]byte{frame(fin|7, nil)}, 1002},
		{"reserved opcode 11", [][]byte{frame(fin|11, nil)}, 1002},
		{"reserved opcode 12", [][]byte{frame(fin|12, nil)}, 1002},
		{"reserved opcode 13", [][]byte{frame(fin|13, nil)}, 1002},
		{"reserved opcode 14", [][]byte{frame(fin|14, nil)}, 1002},
		{"reserved opcode 15", [][]byte{frame(fin|15, []byte("x"))}, 1002},
		{"ping 126 bytes", [][]byte{frame(fin|opPing, bytes.Repeat([]byte("p"), 126))}, 1002},
		{"ping 200 bytes", [][]byte{frame(fin|opPing, bytes.Repeat([]byte("p"), 200))}, 1002},
		{"fragmented ping", [][]byte{frame(opPing, []byte("a")), frame(fin|opCont, []byte("b"))}, 1002},
		{"fragmented pong", [][]byte{frame(opPong, []byte("a")), frame(fin|opCont, []byte("b"))}, 1002},
		{"fragmented close", [][]byte{frame(opClose, []byte{3, 232}), frame(fin|opCont, nil)}, 1002},
		{"unsolicited pong", [][]byte{frame(fin|opPong, []byte("hi"))}, 0},
		{"continuation without start", [][]byte{frame(fin|opCont, pingMsg)}, 1002},
		{"non-final continuation without start", [][]byte{frame(opCont, pingMsg[:5])}, 1002},
		{"text while fragmenting", [][]byte{frame(opText, pingMsg[:5]), frame(opTextF, pingMsg)}, 1002},
		{"binary while fragmenting", [][]byte{frame(opText, pingMsg[:5]), frame(fin|opBin, pingMsg)}, 1002},
		{"length MSB set", [][]byte{{fin | opText, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}}, 1002},
		{"fragments", [][]byte{frame(opText, pingMsg[:3]), frame(opCont, pingMsg[3:10]), frame(fin|opCont, pingMsg[10:])}, 0},
		{"empty fragments", [][]byte{frame(opText, nil), frame(opCont, pingMsg), frame(fin|opCont, nil)}, 0},
		{"ping inside fragments", [][]byte{frame(opText, pingMsg[:9]), frame(fin|opPing, []byte("x")), frame(fin|opCont, pingMsg[9:])}, 0},
		{"16-bit length", [][]byte{frame(opTextF, append(bytes.Repeat([]byte(" "), 200), pingMsg...))}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := dialRaw(t, addr)
			w.write(tc.frames...)
			if tc.close != 0 {
				w.expectClose(tc.close)
				return
			}
			w.alive()
		})
	}
}

// TestRFC6455RejectsFramesAfterError: the frames behind a bad one are not
// processed (Autobahn 3.2: text, bad RSV frame, ping).
func TestRFC6455RejectsFramesAfterError(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	w := dialRaw(t, addr)
	w.write(frame(opTextF, pingMsg), frame(0xC0|opText, pingMsg), frame(fin|opPing, []byte("late")))
	ev := w.expectClose(1002)
	if !slices.Equal(ev, []string{"pusher:pong"}) {
		t.Fatalf("events before the close: %v, want only the first message's pusher:pong", ev)
	}
}

func TestRFC6455PingPong(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	w := dialRaw(t, addr)
	payload := bytes.Repeat([]byte{0xfe}, 125) // binary payload, not UTF-8
	w.write(frame(fin|opPing, payload))
	for {
		op, p, err := w.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if op == opPong {
			if !bytes.Equal(p, payload) {
				t.Fatalf("pong payload %x", p)
			}
			break
		}
	}
	w.write(frame(fin|opPing, nil))
	if op, p, err := w.readFrame(); err != nil || op != opPong || len(p) != 0 {
		t.Fatalf("empty ping: op %d %q %v", op, p, err)
	}
}

func TestRFC6455UTF8(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	euro := "\xe2\x82\xac"     // U+20AC
	clef := "\xf0\x9d\x84\x9e" // U+1D11E
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	split := func(msg []byte, at ...int) [][]byte { // fragments of msg cut at the offsets
		var out [][]byte
		prev, op := 0, byte(opText)
		for _, i := range at {
			out = append(out, frame(op, msg[prev:i]))
			prev, op = i, opCont
		}
		return append(out, frame(fin|op, msg[prev:]))
	}
	valid := pingWith("a" + euro + clef + kosme + "z")
	at := bytes.Index(valid, []byte(euro))
	cases := []struct {
		name   string
		frames [][]byte
		close  int
	}{
		{"valid", [][]byte{frame(opTextF, valid)}, 0},
		{"valid, split inside code points", split(valid, at+1, at+2, at+4, at+5, at+6), 0},
		{"valid, one byte per fragment", split(valid, seq(1, len(valid))...), 0},
		{"0xff", [][]byte{frame(opTextF, pingWith("\xff"))}, 1007},
		{"lone continuation byte", [][]byte{frame(opTextF, pingWith("\x80"))}, 1007},
		{"overlong slash", [][]byte{frame(opTextF, pingWith("\xc0\xaf"))}, 1007},
		{"overlong 3-byte", [][]byte{frame(opTextF, pingWith("\xe0\x80\xaf"))}, 1007},
		{"surrogate", [][]byte{frame(opTextF, pingWith("\xed\xa0\x80"))}, 1007},
		{"above U+10FFFF", [][]byte{frame(opTextF, pingWith("\xf4\x90\x80\x80"))}, 1007},
		{"5-byte form", [][]byte{frame(opTextF, pingWith("\xf8\x88\x80\x80\x80"))}, 1007},
		{"truncated at end", [][]byte{frame(opTextF, append(append([]byte{}, pingMsg...), 0xe2, 0x82))}, 1007},
		{"invalid across a fragment boundary", [][]byte{frame(opText, pingWith("\xe2\x82")[:33]), frame(fin|opCont, []byte(`("}`))}, 1007},
		{"truncated in the last fragment", [][]byte{frame(opText, pingMsg), frame(fin|opCont, []byte{0xf0, 0x9d, 0x84})}, 1007},
		// Fail fast: the first fragment is invalid and the rest never comes.
		{"invalid first fragment, no more", [][]byte{frame(opText, pingWith("\xed\xa0\x80"))}, 1007},
		{"surrogate split, no more", [][]byte{frame(opText, []byte(`{"x":"`)), frame(opCont, []byte{0xed}), frame(opCont, []byte{0xa0})}, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := dialRaw(t, addr)
			w.write(tc.frames...)
			if tc.close != 0 {
				w.expectClose(tc.close)
				return
			}
			w.expectEvent("pusher:pong")
			w.alive()
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestRFC6455Close(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, nil)
	cases := []struct {
		name  string
		frame []byte
		close int // the code the server answers with
	}{
		{"empty", frame(fin|opClose, nil), 1000},
		{"1000 with reason", closeFrame(1000, "bye"), 1000},
		{"1001", closeFrame(1001, ""), 1001},
		{"1003", closeFrame(1003, ""), 1003},
		{"1011", closeFrame(1011, ""), 1011},
		{"3000", closeFrame(3000, ""), 3000},
		{"4999", closeFrame(4999, ""), 4999},
		{"123-byte reason", closeFrame(1000, strings.Repeat("r", 123)), 1000},
		{"1-byte payload", frame(fin|opClose, []byte{3}), 1002},
		{"code 0", closeFrame(0, ""), 1002},
		{"code 999", closeFrame(999, ""), 1002},
		{"code 1004", closeFrame(1004, ""), 1002},
		{"code 1005", closeFrame(1005, ""), 1002},
		{"code 1006", closeFrame(1006, ""), 1002},
		{"code 1015", closeFrame(1015, ""), 1002},
		{"code 1016", closeFrame(1016, ""), 1002},
		{"code 1100", closeFrame(1100, ""), 1002},
		{"code 2000", closeFrame(2000, ""), 1002},
		{"code 2999", closeFrame(2999, ""), 1002},
		{"code 5000", closeFrame(5000, ""), 1002},
		{"code 65535", closeFrame(65535, ""), 1002},
		{"reason not UTF-8", closeFrame(1000, "bad \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), 1007},
		{"124-byte reason (126-byte frame)", closeFrame(1000, strings.Repeat("r", 124)), 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := dialRaw(t, addr)
			w.write(tc.frame)
			w.expectClose(tc.close)
		})
	}
	t.Run("data after close is ignored", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		w.write(slices.Concat(closeFrame(1000, ""), frame(opTextF, pingMsg), frame(fin|opPing, nil))) // one write: the server closes after the close frame
		if ev := w.expectClose(1000); len(ev) != 0 {
			t.Fatalf("processed after the close: %v", ev)
		}
	})
}

// TestRFC6455Limits: a message over max_ws_message_bytes but within 4 MiB
// is a Pusher error (pusher:error, skipped, the connection stays); anything
// larger is closed with 1009 as soon as its size is known.
func TestRFC6455Limits(t *testing.T) {
	t.Parallel()
	_, addr := startTransport(t, func(o *Options) { o.MaxMessageBytes = 64 << 10 })
	big := bytes.Repeat([]byte("x"), 100<<10)
	t.Run("oversized message", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		w.write(frame(opTextF, big), frame(opTextF, bytes.Repeat([]byte("x"), 4<<20)))
		for range 2 {
			if d := w.expectEvent("pusher:error"); !strings.Contains(d, "Message too large") {
				t.Fatalf("pusher:error %s", d)
			}
		}
		w.alive()
	})
	t.Run("oversized fragmented message", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		w.write(frame(opText, big[:40<<10]), frame(opCont, big[:40<<10]), frame(fin|opCont, big[:40<<10]))
		if d := w.expectEvent("pusher:error"); !strings.Contains(d, "Message too large") {
			t.Fatalf("pusher:error %s", d)
		}
		w.alive()
	})
	t.Run("oversized binary message", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		w.write(frame(opBin, big[:40<<10]), frame(fin|opCont, big[:40<<10]))
		if d := w.expectEvent("pusher:error"); !strings.Contains(d, "Binary") {
			t.Fatalf("pusher:error %s", d)
		}
		w.alive()
	})
	t.Run("fragments within the limit, trickled", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		msg := pingWith(strings.Repeat("x", 60<<10)) // 60 KiB of 64: handled
		b := slices.Concat(frame(opText, msg[:20<<10]), frame(opCont, msg[20<<10:40<<10]), frame(fin|opCont, msg[40<<10:]))
		for len(b) > 0 { // many reads, each ending inside a frame
			k := min(len(b), 999)
			w.write(b[:k])
			b = b[k:]
			time.Sleep(time.Millisecond)
		}
		w.expectEvent("pusher:pong")
	})
	t.Run("frame declaring 2^62 bytes", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		h := binary.BigEndian.AppendUint64([]byte{opTextF, 0x80 | 127}, 1<<62)
		w.write(append(h, 1, 2, 3, 4)) // and not one payload byte
		w.expectClose(1009)
	})
	t.Run("one 5 MiB frame", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		go func() { _, _ = w.nc.Write(frame(opTextF, bytes.Repeat([]byte("y"), 5<<20))) }()
		w.expectClose(1009)
	})
	t.Run("200-byte ping amid traffic", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		go func() {
			b := frame(fin|opPing, bytes.Repeat([]byte("p"), 200))
			for i := 0; i < 4000; i++ {
				b = append(b, frame(opTextF, pingMsg)...)
			}
			_, _ = w.nc.Write(b)
		}()
		w.expectClose(1002)
	})
	t.Run("12 MB of never-finished fragments", func(t *testing.T) {
		t.Parallel()
		w := dialRaw(t, addr)
		go func() {
			chunk := bytes.Repeat([]byte("z"), 16<<10)
			if _, err := w.nc.Write(frame(opText, chunk)); err != nil {
				return
			}
			for i := 0; i < 12<<20/len(chunk); i++ {
				if _, err := w.nc.Write(frame(opCont, chunk)); err != nil {
					return
				}
			}
		}()
		w.expectClose(1009)
	})
}
