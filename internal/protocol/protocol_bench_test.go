package protocol

import (
	"strings"
	"testing"
)

func BenchmarkAppendEvent(b *testing.B) {
	data := `{"price":"` + strings.Repeat("1", 80) + `"}`
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], "update", "price_channel", data, "")
	}
}

func BenchmarkValidChannelName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ValidChannelName("presence-cache-room-1234567890", 200)
	}
}

func BenchmarkDecodeClientMessage(b *testing.B) {
	msg := []byte(`{"event":"client-typing","channel":"private-chat","data":{"x":1}}`)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = DecodeClientMessage(msg)
	}
}
