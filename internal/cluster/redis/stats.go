package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// counters are the engine's error and reconnect counts, one atomic add each
// on paths that are already failing or reconnecting.
type counters struct {
	replyErrors      atomic.Int64 // calls Redis answered with an error
	connErrors       atomic.Int64 // calls and heartbeats that failed on the network or timed out
	reconnects       atomic.Int64 // Redis reachable again after it was marked down
	pubsubReconnects atomic.Int64 // the pub/sub connection whole again after it was lost
	pubsubDropped    atomic.Int64 // pub/sub messages dropped (undecodable)
}

// Stats are the engine's counters since the start (first connections not
// counted as reconnects).
type Stats struct {
	ReplyErrors, ConnErrors      int64
	Reconnects, PubSubReconnects int64
	PubSubDropped                int64
}

// Stats returns the counters. Safe for concurrent use.
func (e *Engine) Stats() Stats {
	c := &e.counters
	return Stats{ReplyErrors: c.replyErrors.Load(), ConnErrors: c.connErrors.Load(),
		Reconnects: c.reconnects.Load(), PubSubReconnects: c.pubsubReconnects.Load(),
		PubSubDropped: c.pubsubDropped.Load()}
}

// clientLog passes go-redis's own log lines (dial failures, pool and
// pub/sub notices) to slog as warnings sharing one message, so that a
// rate-limiting handler (lograte) bounds them however their text varies.
type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.log.WarnContext(ctx, ClientLogMessage, "detail", fmt.Sprintf(format, v...))
}

// ClientLogMessage is the message of every go-redis log line.
const ClientLogMessage = "redis client"

// SetClientLog sends go-redis's log (goredis.SetLogger) to log. That logger
// is global to the process, not per client: the composition root sets it,
// and the last call wins.
func SetClientLog(log *slog.Logger) { goredis.SetLogger(clientLog{log}) }
