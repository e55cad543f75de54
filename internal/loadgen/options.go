package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
)

// runOptions are the settings every scenario shares. Zero values mean the
// defaults stated on each field.
type runOptions struct {
	Target Target // required; from ResolveTarget
	AppID  string // default "app-id"
	Key    string // default "app-key"
	Secret string // default "app-secret"

	// ServerPID is the server process whose CPU and RSS are read from /proc
	// before and after each phase; 0 reports the tool's figures only.
	ServerPID int
	// MorePIDs are further server processes (the other nodes of a cluster):
	// the server figures are then summed over ServerPID and these, and
	// reported per process as well.
	MorePIDs []int
	// RedisPIDs are Redis processes whose CPU is read like the server's
	// (fanout: Redis CPU per published event).
	RedisPIDs []int

	// Subscribers are more targets the fan-out subscribers are spread over,
	// round-robin with Target (the nodes of a cluster); REST is the target
	// of the REST publishes (default Target).
	Subscribers []Target
	REST        *Target

	// HTTP is the REST client: "raw" (default; a minimal keep-alive HTTP/1.1
	// client) or "std" (net/http).
	HTTP string

	Loops          int           // gnet event loops reading sockets; default GOMAXPROCS
	DialWorkers    int           // goroutines dialling in parallel; default 32
	ConnectTimeout time.Duration // one connection's dial+upgrade+first frame; default 10s
	SetupTimeout   time.Duration // all connections subscribed; default 120s

	Progress io.Writer // progress lines (stderr); nil for none
}

func (o *runOptions) setDefaults() {
	if o.AppID == "" {
		o.AppID = "app-id"
	}
	if o.Key == "" {
		o.Key = "app-key"
	}
	if o.Secret == "" {
		o.Secret = "app-secret"
	}
	o.HTTP = cmp.Or(o.HTTP, httpRaw)
	if o.Loops <= 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.DialWorkers <= 0 {
		o.DialWorkers = 32
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = 120 * time.Second
	}
}

func (o *runOptions) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "pixiu-bench: "+format+"\n", args...)
	}
}

func (o *runOptions) monitor() monitor {
	m := monitor{redis: o.RedisPIDs}
	if o.ServerPID > 0 {
		m.pids = append([]int{o.ServerPID}, o.MorePIDs...)
	}
	return m
}

// restTarget is where REST publishes go.
func (o *runOptions) restTarget() Target {
	if o.REST != nil {
		return *o.REST
	}
	return o.Target
}

// dialers returns one dialer per subscriber target (Target first).
func (o *runOptions) dialers() []*dialer {
	ds := []*dialer{newDialer(o.Target, o.Key, o.ConnectTimeout)}
	for _, t := range o.Subscribers {
		ds = append(ds, newDialer(t, o.Key, o.ConnectTimeout))
	}
	return ds
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connectPhase opens n subscribed connections on e and reports the phase.
func connectPhase(ctx context.Context, o *runOptions, e *engine, r *report, n int, channel func(int) string, prepare func(*wsConn)) error {
	ds := o.dialers()
	mon := o.monitor()
	a := mon.take()
	o.logf("connecting %d sockets to %d server(s)", n, len(ds))
	connected, errs := e.connectAll(ctx, ds, n, o.DialWorkers, channel, prepare)
	r.add("connected", connected)
	r.add("dial_errors", len(errs))
	if len(errs) > 0 {
		r.fail("%d connections failed, first: %v", len(errs), errs[0])
	}
	if err := e.waitSubscribed(ctx, connected, o.SetupTimeout); err != nil {
		r.add("subscribed", e.subscribed.Load())
		r.fail("%v", err)
		return err
	}
	b := mon.take()
	took := b.at.Sub(a.at)
	r.add("subscribed", e.subscribed.Load())
	r.add("connect_sec", round(took.Seconds(), 3))
	r.add("connects_per_sec", round(float64(connected)/took.Seconds(), 0))
	if b.err == nil && len(mon.pids) > 0 && connected > 0 {
		r.add("server_cpu_us_per_connect", round(float64(b.server.CPU-a.server.CPU)/1e3/float64(connected), 2))
	}
	o.logf("%d sockets subscribed in %v", connected, took.Round(time.Millisecond))
	return nil
}
