package wsconn

import (
	"testing"
	"unicode/utf8"
)

// feedSplit validates b fed in pieces cut at the given offsets.
func feedSplit(b []byte, cuts ...int) bool {
	var s utf8State
	prev := 0
	for _, c := range cuts {
		if !s.feed(b[prev:c]) {
			return false
		}
		prev = c
	}
	return s.feed(b[prev:]) && s.complete()
}

func TestUTF8StateMatchesValid(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "a", "κόσμε", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
		"\xff", "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xf0\x80\x80\xaf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xe2\x82", "a\xf0\x9d\x84",
		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", "\x80\x80\x80\x80"}
	for _, in := range inputs {
		b := []byte(in)
		want := utf8.ValidString(in)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				if got := feedSplit(b, i, j); got != want {
					t.Errorf("%q cut at %d,%d: %v, want %v", in, i, j, got, want)
				}
			}
		}
	}
}

func FuzzUTF8State(f *testing.F) {
	f.Add([]byte("κόσμε\xed\xa0\x80"), uint8(3), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, i, j uint8) {
		x, y := min(int(i), len(b)), min(int(j), len(b))
		if x > y {
			x, y = y, x
		}
		if feedSplit(b, x, y) != utf8.Valid(b) {
			t.Fatalf("%q cut at %d,%d", b, x, y)
		}
	})
}
