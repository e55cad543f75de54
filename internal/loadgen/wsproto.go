package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFrame bounds one incoming frame's payload; Pusher events are ≤ 10 KB of
// data, so anything near this is a broken stream.
const maxFrame = 1 << 20

var (
	errShortFrame = errors.New("loadgen: incomplete frame")
	errBadFrame   = errors.New("loadgen: malformed frame")
)

// frame is one parsed WebSocket frame; payload aliases the input buffer.
type frame struct {
	op      byte
	fin     bool
	payload []byte
}

// parseFrame parses the frame at the start of b and returns it with its total
// length. It returns errShortFrame when b holds only part of a frame. A masked
// frame (servers must not mask) is unmasked in place.
func parseFrame(b []byte) (frame, int, error) {
	if len(b) < 2 {
		return frame{}, 0, errShortFrame
	}
	f := frame{op: b[0] & 0x0F, fin: b[0]&0x80 != 0}
	if b[0]&0x70 != 0 {
		return f, 0, errBadFrame // RSV bits: no extension was negotiated
	}
	masked := b[1]&0x80 != 0
	n := uint64(b[1] & 0x7F)
	hdr := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return f, 0, errShortFrame
		}
		n, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return f, 0, errShortFrame
		}
		n, hdr = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > maxFrame {
		return f, 0, errBadFrame
	}
	var mask [4]byte
	if masked {
		if len(b) < hdr+4 {
			return f, 0, errShortFrame
		}
		copy(mask[:], b[hdr:])
		hdr += 4
	}
	total := hdr + int(n)
	if len(b) < total {
		return f, 0, errShortFrame
	}
	f.payload = b[hdr:total]
	if masked {
		for i := range f.payload {
			f.payload[i] ^= mask[i&3]
		}
	}
	return f, total, nil
}

// appendClientFrame appends one final, masked client→server frame (RFC 6455
// §5.3: every client frame is masked).
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// Pusher event names the tool reacts to (protocol.md §3).
var (
	evEstablished       = []byte("pusher:connection_established")
	evSubscribed        = []byte("pusher_internal:subscription_succeeded")
	evError             = []byte("pusher:error")
	evPing              = []byte("pusher:ping")
	evPong              = []byte("pusher:pong")
	evSubscriptionCount = []byte("pusher_internal:subscription_count")
)

func subscribeMessage(channel string) []byte {
	return []byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":` + quoteJSON(channel) + `}}`)
}

var pongMessage = []byte(`{"event":"pusher:pong","data":{}}`)

// jsonField returns the raw (still escaped) value of the top-level string
// member key of the JSON object msg, or nil. It relies on the envelope's
// double encoding (protocol.md §2): inside the data string every quote is
// escaped, so `"key"` with bare quotes can only be an envelope member.
func jsonField(msg []byte, key string) []byte {
	var pat [40]byte
	p := append(append(append(pat[:0], '"'), key...), '"')
	i := bytes.Index(msg, p)
	if i < 0 {
		return nil
	}
	rest := skipSpace(msg[i+len(p):])
	if len(rest) == 0 || rest[0] != ':' {
		return nil
	}
	rest = skipSpace(rest[1:])
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	rest = rest[1:]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			return rest[:j]
		}
	}
	return nil
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// jsonNumber finds the first `key` in b followed by optional escaped quotes
// and a colon (`key":12` or `key\":12`) and returns the unsigned integer after
// it. The tool's event data is {"seq":N,"ts":T,"pad":"…"}, which arrives
// double encoded, so this works on the raw frame without unescaping.
func jsonNumber(b []byte, key string) (int64, bool) {
	for {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return 0, false
		}
		b = b[i+len(key):]
		j := 0
		for j < len(b) && (b[j] == '\\' || b[j] == '"') {
			j++
		}
		if j == 0 || j >= len(b) || b[j] != ':' {
			continue
		}
		j++
		for j < len(b) && b[j] == ' ' {
			j++
		}
		var v uint64
		start := j
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9' && j-start < 19; j++ {
			v = v*10 + uint64(b[j]-'0')
		}
		ok := j > start && v <= math.MaxInt64 && (j == len(b) || b[j] < '0' || b[j] > '9')
		return int64(v), ok
	}
}

// quoteJSON returns s as a JSON string literal. The tool only quotes its own
// ASCII names and data, so escaping quote, backslash and control bytes is
// enough.
func quoteJSON(s string) string {
	return string(appendJSONString(make([]byte, 0, len(s)+8), s))
}

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
