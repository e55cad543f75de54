package wsconn

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// recoverHistory handles pixiu:recover {"since","exclude"} on a channel
// (issue 15): the hub replays the channel's kept events after since to this
// connection, then pixiu:recovered, or sends pixiu:recovery_failed. Only a
// channel the connection is subscribed to is answered, so private and
// presence channels recover only for connections authorized to them. The
// requests share the subscribe rate limit (subLimiter). Loop only.
func (c *conn) recoverHistory(m protocol.ClientMessage) {
	r, err := protocol.DecodeRecover(m.Data)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid pixiu:recover data: " + err.Error()})
		return
	}
	if _, ok := c.subs.get(m.Channel); !ok || m.Channel == "" {
		c.sendError(&protocol.Error{Message: "Recovery rejected: not subscribed to channel " + truncate(m.Channel, 210)})
		return
	}
	if o := &c.t.opts; o.MaxSubscribesPerSecond >= 0 {
		ok, abuse := c.subRate.subscribe(time.Now().UnixNano(), float32(o.MaxSubscribesPerSecond), float32(o.SubscribeBurst))
		switch {
		case abuse:
			c.Close(errSubscribeAbuse)
			return
		case !ok:
			c.sendError(&protocol.Error{Code: protocol.CodeClientEventRate,
				Message: "Recovery rejected due to rate limit: it shares the limit of " + itoa(o.MaxSubscribesPerSecond) + " subscribe requests per second"})
			return
		}
	}
	appID, limit := c.curApp().ID, c.t.opts.MaxHistoryReplay
	replay := func() {
		// An engine failure has been answered with pixiu:recovery_failed
		// ("unavailable"); the page refetches.
		_ = c.t.opts.Hub.Recover(context.Background(), appID, c, m.Channel, r.Since, limit, r.Exclude)
	}
	if c.t.offloop {
		c.offload(replay, nil)
		return
	}
	replay()
}
