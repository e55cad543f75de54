package webhook

import (
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// TestSignatureVector checks the body encoding and the signature against
// protocol.md §7.1.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	ev := encodeEvent(hub.Event{Kind: hub.ChannelOccupied, AppID: "a", Channel: "test_channel"})
	b := body(time.UnixMilli(1327078148132), [][]byte{ev})
	const want = `{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`
	if string(b) != want {
		t.Fatalf("body\n got %s\nwant %s", b, want)
	}
	const sig = "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
	if got := signature.Webhook("7ad3773142a6692b25b8", b); got != sig {
		t.Fatalf("signature %s, want %s", got, sig)
	}
	if !signature.VerifyWebhook("7ad3773142a6692b25b8", b, sig) {
		t.Fatal("VerifyWebhook rejects the vector")
	}
}

// TestEncodeEvent checks every type against protocol.md §7.2, byte for byte.
func TestEncodeEvent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ev   hub.Event
		want string
	}{
		{"occupied", hub.Event{Kind: hub.ChannelOccupied, Channel: "c"}, `{"name":"channel_occupied","channel":"c"}`},
		{"vacated", hub.Event{Kind: hub.ChannelVacated, Channel: "c"}, `{"name":"channel_vacated","channel":"c"}`},
		{"member added", hub.Event{Kind: hub.MemberAdded, Channel: "presence-c", UserID: "u1"},
			`{"name":"member_added","channel":"presence-c","user_id":"u1"}`},
		{"member removed", hub.Event{Kind: hub.MemberRemoved, Channel: "presence-c", UserID: "u1"},
			`{"name":"member_removed","channel":"presence-c","user_id":"u1"}`},
		{"client event presence", hub.Event{Kind: hub.ClientEvent, Channel: "presence-c", Event: "client-x",
			Data: `{"x":1}`, SocketID: "123.456", UserID: "u1"},
			`{"name":"client_event","channel":"presence-c","event":"client-x","data":"{\"x\":1}","socket_id":"123.456","user_id":"u1"}`},
		{"client event private: no user_id", hub.Event{Kind: hub.ClientEvent, Channel: "private-c", Event: "client-x",
			Data: `<&>`, SocketID: "1.2", UserID: "u1"},
			`{"name":"client_event","channel":"private-c","event":"client-x","data":"<&>","socket_id":"1.2"}`},
		{"client event empty data", hub.Event{Kind: hub.ClientEvent, Channel: "private-c", Event: "client-x", SocketID: "1.2"},
			`{"name":"client_event","channel":"private-c","event":"client-x","data":"","socket_id":"1.2"}`},
		{"cache miss", hub.Event{Kind: hub.CacheMiss, Channel: "cache-c", SocketID: "1.2"}, `{"name":"cache_miss","channel":"cache-c"}`},
		{"subscription count", hub.Event{Kind: hub.SubscriptionCount, Channel: "c", Count: 5},
			`{"name":"subscription_count","channel":"c","subscription_count":5}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(encodeEvent(tc.ev)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := &Sender{opts: Options{RetryHorizon: 5 * time.Minute}}
	s.opts.applyDefaults()
	if s.opts.BackoffBase != time.Second || s.opts.BackoffMax != time.Minute {
		t.Fatalf("defaults %v %v", s.opts.BackoffBase, s.opts.BackoffMax)
	}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute, 60: time.Minute} {
		for range 20 {
			if d := s.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	short := &Sender{opts: Options{RetryHorizon: 2 * time.Second}}
	short.opts.applyDefaults()
	if short.opts.BackoffBase != 100*time.Millisecond || short.opts.BackoffMax != 500*time.Millisecond {
		t.Fatalf("short horizon: %v %v", short.opts.BackoffBase, short.opts.BackoffMax)
	}
}
