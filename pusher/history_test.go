package pusher_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/pusher"
)

// TestChannelHistory reads a channel's history from a real server: newest
// events, since an id, the 410 and 404 answers.
func TestChannelHistory(t *testing.T) {
	t.Parallel()
	srv := pixiutest.Start(t, func(c *config.Config) {
		c.Apps[0].History.Channels = []string{"hist-"}
		c.Apps[0].History.MaxEvents = 3
	})
	c := &pusher.Client{AppID: srv.App.ID, Key: srv.App.Key, Secret: srv.App.Secret, Host: srv.Addr}
	ctx := context.Background()
	for i := range 4 {
		if _, err := c.TriggerContext(ctx, []string{"hist-sdk"}, "tick", fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := c.ChannelHistoryContext(ctx, "hist-sdk", pusher.HistoryParams{Limit: 2})
	if err != nil || len(h.Events) != 2 || h.Events[0].Data != "2" {
		t.Fatalf("newest 2: %+v, %v", h, err)
	}
	all, err := c.ChannelHistoryContext(ctx, "hist-sdk", pusher.HistoryParams{})
	if err != nil || len(all.Events) != 3 || all.Events[2].ID != h.Events[1].ID {
		t.Fatalf("all kept: %+v, %v", all, err)
	}
	after, err := c.ChannelHistoryContext(ctx, "hist-sdk", pusher.HistoryParams{Since: all.Events[0].ID, Limit: 1})
	if err != nil || len(after.Events) != 1 || after.Events[0].ID != all.Events[1].ID || !after.More {
		t.Fatalf("since %s limit 1: %+v, %v", all.Events[0].ID, after, err)
	}
	if _, err := c.ChannelHistoryContext(ctx, "hist-sdk", pusher.HistoryParams{Since: "1-0"}); !errors.Is(err, pusher.ErrHistoryGone) {
		t.Fatalf("since gone: %v, want ErrHistoryGone", err)
	}
	var he *pusher.HTTPError
	if _, err := c.ChannelHistoryContext(ctx, "other", pusher.HistoryParams{}); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Fatalf("history off: %v, want a 404", err)
	}
	if _, err := c.ChannelHistoryContext(ctx, "bad name", pusher.HistoryParams{}); !errors.Is(err, pusher.ErrInvalidChannel) {
		t.Fatalf("bad channel: %v", err)
	}
}
