package redis

import (
	"testing"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

var codecCases = []cluster.Message{
	{},
	{AppID: "a", Channel: "c", Event: "e", Data: `{"x":1}`},
	{AppID: "app-1", Channel: "presence-r", Event: "client-x", Data: "d\x00ü", UserID: "u", ExcludeSocket: "1.2"},
	{AppID: "a", UserID: "u", Notice: cluster.NoticeTerminateUser},
	{AppID: "a", Channel: "c", Data: string(make([]byte, 70000))},
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range codecCases {
		got, err := decodeMessage(string(encodeMessage(m)))
		if err != nil || got != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	for _, bad := range []string{"", "\x01", "\x02\x00", "\x01\x00\x05ab", "\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, err := decodeMessage(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
	ev, data, err := decodeCache(string(encodeCache("ev", "da\x00ta")))
	if err != nil || ev != "ev" || data != "da\x00ta" {
		t.Fatalf("cache round trip: %q %q %v", ev, data, err)
	}
}

// FuzzDecodeMessage: decoding never panics, and what decodes re-encodes to
// the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range codecCases[:4] {
		f.Add(string(encodeMessage(m)))
	}
	f.Fuzz(func(t *testing.T, p string) {
		m, err := decodeMessage(p)
		if err != nil {
			return
		}
		again, err := decodeMessage(string(encodeMessage(m)))
		if err != nil || again != m {
			t.Fatalf("%+v re-decodes as %+v (%v)", m, again, err)
		}
	})
}
