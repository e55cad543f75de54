package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

var _ cluster.Tally = (*Engine)(nil)

// Each app's usage of a UTC day is one hash, {conns:app}:u:YYYYMMDD (the
// slot of the app's connection counts), with a field per hour: "mHH" the
// messages all nodes counted in that hour (HINCRBY, from each node's usage
// flush, every 5 s) and "pHH" the largest number of concurrent connections
// seen in it, the sum of the nodes' exchanged counts (a Lua max, from the
// connection exchange, only when a node sees the sum pass what it last
// knew). It expires three days after the day began, so the console's last
// 24 hours always find yesterday's. {usage}:YYYYMMDD is the set of apps
// with messages that day, so that a node learns the counts of apps it has
// not seen yet (a quota holds on a node's first publish of an app).
const tallyKeep = 3 * 24 * time.Hour

func tallyDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (k keys) tally(app string, t time.Time) string {
	return k.p + "{conns:" + app + "}:u:" + t.UTC().Format("20060102")
}

func (k keys) tallyApps(t time.Time) string {
	return k.p + "{usage}:" + t.UTC().Format("20060102")
}

func tallyExpiry(t time.Time) int64 { return tallyDay(t).Add(tallyKeep).Unix() }

// TallyMessages implements cluster.Tally: one pipeline, and a second one for
// the apps other nodes counted that are new to this node.
func (e *Engine) TallyMessages(ctx context.Context, hour time.Time, add map[string]int64, read []string) (map[string]cluster.DayTally, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	field := fmt.Sprintf("m%02d", hour.UTC().Hour())
	exp := time.Unix(tallyExpiry(hour), 0)
	gets := map[string]*goredis.MapStringStringCmd{}
	pipe := e.rdb.Pipeline()
	var added []any
	for app, n := range add {
		if n > 0 {
			key := e.k.tally(app, hour)
			pipe.HIncrBy(ctx, key, field, n)
			pipe.ExpireAt(ctx, key, exp)
			added = append(added, app)
		}
		gets[app] = nil
	}
	if len(added) > 0 {
		pipe.SAdd(ctx, e.k.tallyApps(hour), added...)
		pipe.ExpireAt(ctx, e.k.tallyApps(hour), exp)
	}
	all := pipe.SMembers(ctx, e.k.tallyApps(hour))
	for _, app := range read {
		gets[app] = nil
	}
	for app := range gets {
		gets[app] = pipe.HGetAll(ctx, e.k.tally(app, hour))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, e.failedCtx(ctx, fmt.Errorf("tally messages: %w", err))
	}
	pipe = nil
	for _, app := range all.Val() {
		if _, ok := gets[app]; !ok {
			if pipe == nil {
				pipe = e.rdb.Pipeline()
			}
			gets[app] = pipe.HGetAll(ctx, e.k.tally(app, hour))
		}
	}
	if pipe != nil {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, e.failedCtx(ctx, fmt.Errorf("tally messages: %w", err))
		}
	}
	out := make(map[string]cluster.DayTally, len(gets))
	for app, cmd := range gets {
		var d cluster.DayTally
		for f, v := range cmd.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch {
			case strings.HasPrefix(f, "m"):
				d.Messages += n
			case strings.HasPrefix(f, "p"):
				d.Peak = max(d.Peak, n)
			}
		}
		out[app] = d
	}
	return out, nil
}

// TallyHours implements cluster.Tally: one pipeline of the days' hashes.
func (e *Engine) TallyHours(ctx context.Context, app string, since time.Time, n int) ([]cluster.HourTally, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	since = since.UTC().Truncate(time.Hour)
	out := make([]cluster.HourTally, n)
	days := map[time.Time]*goredis.MapStringStringCmd{}
	pipe := e.rdb.Pipeline()
	for i := range out {
		out[i].Hour = since.Add(time.Duration(i) * time.Hour)
		if d := tallyDay(out[i].Hour); days[d] == nil {
			days[d] = pipe.HGetAll(ctx, e.k.tally(app, d))
		}
	}
	if len(days) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, e.failedCtx(ctx, fmt.Errorf("tally hours: %w", err))
	}
	for i := range out {
		h := days[tallyDay(out[i].Hour)].Val()
		hh := out[i].Hour.Hour()
		out[i].Messages, _ = strconv.ParseInt(h[fmt.Sprintf("m%02d", hh)], 10, 64)
		out[i].Peak, _ = strconv.ParseInt(h[fmt.Sprintf("p%02d", hh)], 10, 64)
	}
	return out, nil
}

// ConnectionsByNode implements cluster.Tally: this node's exact count and
// the other live nodes' as of the last exchange.
func (e *Engine) ConnectionsByNode(app string) map[string]int64 {
	c := e.connCount(app)
	out := map[string]int64{}
	if p := c.byNode.Load(); p != nil {
		for node, n := range *p {
			out[node] = n
		}
	}
	if n := c.local.Load(); n > 0 {
		out[e.node] = n
	} else {
		delete(out, e.node)
	}
	return out
}

// tallyPeaks runs on the health loop after a connection exchange: for each
// app whose cluster-wide count (totals) passed the peak this node last knew
// for the hour, it raises the hour's peak in Redis (a Lua max) and learns
// the stored one. One pipeline, only when some peak grew.
func (e *Engine) tallyPeaks(ctx context.Context, now time.Time, totals map[*connCount]tallyRow) error {
	hour := now.UTC().Truncate(time.Hour)
	field := fmt.Sprintf("p%02d", hour.Hour())
	type raise struct {
		c   *connCount
		cmd *goredis.Cmd
	}
	var raises []raise
	var pipe goredis.Pipeliner
	for c, r := range totals {
		if !c.peakHour.Equal(hour) {
			c.peakHour, c.peak = hour, 0
		}
		if r.total <= c.peak {
			continue
		}
		if pipe == nil {
			pipe = e.rdb.Pipeline()
		}
		cmd := peakMax.Eval(ctx, pipe, []string{e.k.tally(r.app, hour)}, field, r.total, tallyExpiry(hour))
		raises = append(raises, raise{c, cmd})
	}
	if pipe == nil {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("tally connection peaks: %w", err)
	}
	for _, r := range raises {
		if n, err := r.cmd.Int64(); err == nil {
			r.c.peak = n
		}
	}
	return nil
}

// tallyRow is an app's cluster-wide connection count after an exchange.
type tallyRow struct {
	app   string
	total int64
}

// peakMax raises a peak field. KEYS the day's hash; ARGV field, count,
// expiry (unix seconds). Returns the stored peak.
var peakMax = goredis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1])) or 0
local n = tonumber(ARGV[2])
if n > cur then redis.call('HSET', KEYS[1], ARGV[1], n) cur = n end
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return cur
`)
