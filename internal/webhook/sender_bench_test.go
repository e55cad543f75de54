package webhook_test

import (
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

// BenchmarkObserve measures the cost Observe adds to fan-out: for an app
// without webhooks, for an event no endpoint wants, and for one that is
// enqueued (the outbox behind it may fall behind; Observe must not care).
func BenchmarkObserve(b *testing.B) {
	cases := []struct {
		name string
		app  *apps.App
	}{
		{"no webhooks", app("a")},
		{"filtered out", app("a", apps.Webhook{URL: "http://127.0.0.1:9/", ChannelPrefix: "private-"})},
		{"enqueued", app("a", apps.Webhook{URL: "http://127.0.0.1:9/"})},
	}
	ev := hub.Event{Kind: hub.ClientEvent, AppID: "a", Channel: "presence-room", Event: "client-x", Data: `{"x":1}`,
		SocketID: "1.2", UserID: "u1"}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			out, err := webhook.OpenSQLite(b.TempDir()+"/pixiu.db", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			s, err := webhook.New(fast(webhook.Options{Apps: apps.NewRegistry([]*apps.App{tc.app}), Outbox: out,
				FlushTimeout: 1}), logger())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Observe(ev)
				}
			})
		})
	}
}
