package wsconn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// TestErrorsDoNotEchoLargeInput: a pusher:error quotes what the client sent
// (event name, channel, auth string) clipped, so that an error answer stays
// small whatever the size of the message that caused it.
func TestErrorsDoNotEchoLargeInput(t *testing.T) {
	t.Parallel()
	addr := startClientEventsTransport(t)
	huge := strings.Repeat("h", 50<<10)
	cases := []struct {
		name, msg, want string
		errors          int // pusher:error frames expected
	}{
		{"unsupported event", `{"event":"` + huge + `","data":{}}`, "Unsupported event received on socket: hhh", 1},
		{"client event, channel not subscribed", `{"event":"client-x","channel":"private-` + huge + `","data":{}}`, "not subscribed to channel private-hhh", 1},
		{"client event, public channel", `{"event":"client-x","channel":"` + huge + `","data":{}}`, "accept client events (hhh", 1},
		{"subscription auth signature", `{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"app-key:` + huge + `"}}`, ", but got hhh", 1},
		{"subscription auth key", `{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"` + huge + `:00"}}`, "Invalid key", 1},
		{"presence channel_data", `{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"app-key:00","channel_data":"` + huge + `"}}`, "hex digest of ", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := dialRaw(t, addr)
			w.write(frame(opTextF, []byte(tc.msg)))
			for range tc.errors {
				d := w.expectEvent("pusher:error")
				var e struct{ Message string }
				if err := json.Unmarshal([]byte(d), &e); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(e.Message, tc.want) || len(e.Message) > 2600 {
					t.Fatalf("pusher:error of %d bytes: %.300s…", len(e.Message), e.Message)
				}
			}
			w.alive()
		})
	}
}

// startClientEventsTransport is startTransport with client events on.
func startClientEventsTransport(t *testing.T) string {
	t.Helper()
	s := apps.Defaults()
	s.ClientEvents = true
	_, addr := startTransport(t, func(o *Options) {
		o.Apps = apps.NewRegistry([]*apps.App{{ID: "app-id", Key: "app-key", Secret: "app-secret", Settings: s}})
	})
	return addr
}
