package wsconn

import "unicode/utf8"

// utf8State validates UTF-8 (RFC 3629, as utf8.Valid) across fragment
// boundaries: a code point may start in one fragment and end in the next,
// and an invalid sequence is found in the fragment that holds it.
type utf8State struct {
	need   byte // continuation bytes still needed by the current code point
	lo, hi byte // the range the next continuation byte must be in
}

// feed validates p after everything fed before; false means invalid.
func (s *utf8State) feed(p []byte) bool {
	i := 0
	for ; i < len(p) && s.need > 0; i++ {
		if !s.step(p[i]) {
			return false
		}
	}
	// Whole code points in bulk; a code point cut by the fragment's end,
	// begun at a lead byte among the last three, byte by byte.
	cut := len(p)
	for j := len(p) - 1; j >= i && j >= len(p)-3; j-- {
		if b := p[j]; b >= 0xC0 {
			cut = j
			break
		} else if b < 0x80 {
			break
		}
	}
	if !utf8.Valid(p[i:cut]) {
		return false
	}
	for _, b := range p[cut:] {
		if !s.step(b) {
			return false
		}
	}
	return true
}

// complete reports whether the input fed so far ends between code points.
func (s *utf8State) complete() bool { return s.need == 0 }

// step validates one byte.
func (s *utf8State) step(b byte) bool {
	if s.need > 0 {
		if b < s.lo || b > s.hi {
			return false
		}
		s.need--
		s.lo, s.hi = 0x80, 0xBF
		return true
	}
	switch {
	case b < 0x80:
		return true
	case b >= 0xC2 && b <= 0xDF:
		s.need, s.lo, s.hi = 1, 0x80, 0xBF
	case b == 0xE0:
		s.need, s.lo, s.hi = 2, 0xA0, 0xBF // no overlong forms
	case b == 0xED:
		s.need, s.lo, s.hi = 2, 0x80, 0x9F // no surrogates
	case b >= 0xE1 && b <= 0xEF:
		s.need, s.lo, s.hi = 2, 0x80, 0xBF
	case b == 0xF0:
		s.need, s.lo, s.hi = 3, 0x90, 0xBF // no overlong forms
	case b >= 0xF1 && b <= 0xF3:
		s.need, s.lo, s.hi = 3, 0x80, 0xBF
	case b == 0xF4:
		s.need, s.lo, s.hi = 3, 0x80, 0x8F // ≤ U+10FFFF
	default: // continuation byte without a lead, C0, C1, F5–FF
		return false
	}
	return true
}
