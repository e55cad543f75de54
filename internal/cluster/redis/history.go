package redis

import (
	"context"
	"fmt"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// Channel history (issue 15) is a Redis stream per channel (keys.history):
// the entry id is the event's id and its one field "m" the published payload
// (codec.go) without the id. One script appends and publishes, so ids
// ascend in the order every node receives the events; the stream is capped
// by count (MAXLEN) and age (MINID, from Redis's clock) on every append and
// expires after the policy's age without publishes.

// publishHistory: KEYS stream, topic (one hash tag: one slot); ARGV payload,
// max events, max age ms, "1" on a Redis Cluster (sharded pub/sub).
// Appends the payload, trims, publishes it with the id appended (codec.go)
// and returns the id.
var publishHistory = goredis.NewScript(luaNow + `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'm', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local cmd = 'PUBLISH'
if ARGV[4] == '1' then cmd = 'SPUBLISH' end
redis.call(cmd, KEYS[2], ARGV[1] .. string.char(#id) .. id)
return id
`)

// readHistory: KEYS stream; ARGV since ("" = newest), limit, max age ms.
// Returns {0, entries} (newest first when since is ""), or {1} when since is
// not a kept id.
var readHistory = goredis.NewScript(luaNow + `
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
if ARGV[1] == '' then
  return {0, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {1} end
return {0, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]) + 1)}
`)

// historyCounters are the engine's history metrics.
type historyCounters struct {
	appended atomic.Uint64
}

// publishWithHistory is Publish for a message whose history policy is on.
func (e *Engine) publishWithHistory(ctx context.Context, m cluster.Message) error {
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	m.ID = ""
	keys := []string{e.k.history(m.AppID, m.Channel), e.k.topic(m.AppID, m.Channel)}
	sharded := "0"
	if e.cl != nil {
		sharded = "1"
	}
	err := e.runScript(cctx, publishHistory, keys, encodeMessage(m), m.History.MaxEvents,
		m.History.MaxAge.Milliseconds(), sharded).Err()
	if err != nil {
		return e.failedCtx(ctx, err)
	}
	e.hist.appended.Add(1)
	return nil
}

// History implements cluster.History with one script call.
func (e *Engine) History(ctx context.Context, appID, channel string, p cluster.HistoryPolicy, q cluster.HistoryQuery) (cluster.HistoryPage, error) {
	var page cluster.HistoryPage
	if err := e.usable(); err != nil {
		return page, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	res, err := e.runScript(cctx, readHistory, []string{e.k.history(appID, channel)}, q.Since, q.Limit,
		p.MaxAge.Milliseconds()).Slice()
	if err != nil {
		return page, e.failedCtx(ctx, err)
	}
	if len(res) < 1 || res[0] != int64(0) {
		return page, cluster.ErrHistoryGone
	}
	if len(res) < 2 {
		return page, errBadPayload
	}
	raw, _ := res[1].([]any)
	page.Events = make([]cluster.HistoryEvent, 0, len(raw))
	for _, r := range raw {
		ev, err := decodeEntry(r)
		if err != nil {
			return cluster.HistoryPage{}, err
		}
		page.Events = append(page.Events, ev)
	}
	if q.Since == "" { // XREVRANGE: newest first
		for i, j := 0, len(page.Events)-1; i < j; i, j = i+1, j-1 {
			page.Events[i], page.Events[j] = page.Events[j], page.Events[i]
		}
	} else if len(page.Events) > q.Limit {
		page.Events, page.More = page.Events[:q.Limit], true
	}
	return page, nil
}

// decodeEntry decodes one stream entry as returned by XRANGE: {id, {"m", payload}}.
func decodeEntry(r any) (cluster.HistoryEvent, error) {
	pair, _ := r.([]any)
	if len(pair) != 2 {
		return cluster.HistoryEvent{}, errBadPayload
	}
	id, _ := pair[0].(string)
	fields, _ := pair[1].([]any)
	if id == "" || len(fields) != 2 {
		return cluster.HistoryEvent{}, errBadPayload
	}
	payload, _ := fields[1].(string)
	m, err := decodeMessage(payload)
	if err != nil {
		return cluster.HistoryEvent{}, fmt.Errorf("redis: history entry %s: %w", id, err)
	}
	return cluster.HistoryEvent{ID: id, Event: m.Event, Data: m.Data, UserID: m.UserID, ExcludeSocket: m.ExcludeSocket}, nil
}

// HistoryStats implements cluster.Engine: the kept events live in Redis,
// so only this node's appends are known.
func (e *Engine) HistoryStats() cluster.HistoryStats {
	return cluster.HistoryStats{Appended: e.hist.appended.Load(), Events: -1, Bytes: -1, Channels: -1}
}
