package restapi_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/restapi"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// BenchmarkDirectPublish is one REST publish as the event loops answer it
// (restapi.API.Direct): authentication, body checks, validation, publish.
func BenchmarkDirectPublish(b *testing.B) {
	h, err := hub.New(hub.Options{}, func(d cluster.Handler) (cluster.Engine, error) { return memory.New(d), nil })
	if err != nil {
		b.Fatal(err)
	}
	reg := apps.NewRegistry([]*apps.App{{ID: "app-id", Key: "app-key", Secret: "app-secret", Settings: apps.Defaults()}})
	now := time.Now()
	api := restapi.New(restapi.Options{Hub: h, Apps: reg, Now: func() time.Time { return now }})
	body := []byte(`{"name":"update","channels":["price_channel"],"data":"{\"price\":\"1234567890123456789012345678901234567890\"}"}`)
	q := signature.SignRequest("app-key", "app-secret", "POST", "/apps/app-id/events", url.Values{}, body, now)
	uri := "/apps/app-id/events?" + q.Encode()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if status, _, out := api.Direct(ctx, "POST", uri, "", body); status != 200 {
			b.Fatalf("%d %s", status, out)
		}
	}
}
