package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/pixiu-io/pixiu/internal/buildinfo"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/server"
)

const serveSynopsis = `pixiu serve [--config FILE] [--host H] [--port P] [--demo=false] [--dev-app=false] [--cluster URL]

Runs the server. Precedence: defaults < config file < PIXIU_* environment < flags.
The configuration is checked as 'pixiu config check' does: serve refuses to start
on any problem it reports.`

// runServe runs `pixiu serve`. Precedence: defaults < file < PIXIU_* env < flags.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := newCommand("pixiu serve", serveSynopsis, stdout, stderr)
	fs := c.fs
	host := fs.String("host", "", "address to listen on (env PIXIU_HOST, default 0.0.0.0)")
	port := fs.Int("port", 0, "port to listen on (env PIXIU_PORT, default 6001)")
	file := fs.String("config", getenv("PIXIU_CONFIG"), "YAML config file (env PIXIU_CONFIG)")
	var demo, devApp boolFlag
	fs.Var(&demo, "demo", "serve the exchange demo under /demo: true or false (env PIXIU_DEMO, default true)")
	fs.Var(&devApp, "dev-app", "create the development app app-id/app-key/app-secret while no other app exists: true or false (env PIXIU_DEV_APP, default true)")
	clusterURL := fs.String("cluster", "", "join a cluster through Redis: redis://127.0.0.1:6379/0, redis+sentinel://host:26379[,host:port…]/master-name[/db], redis+cluster://host:port[,host:port…] (env PIXIU_CLUSTER, default single node)")
	if _, code := c.parse(args, 0); code >= 0 {
		return code
	}
	cfg, err := config.Load(*file, getenv)
	if err != nil {
		reportConfigError(stderr, err)
		return 1
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "host":
			cfg.Host = *host
		case "port":
			cfg.Port = *port
		case "cluster":
			cfg.Cluster.Redis = *clusterURL
		case "demo":
			cfg.Demo = demo.v
		case "dev-app":
			cfg.DevApp = devApp.v
		}
	})
	if err := cfg.Validate(); err != nil {
		reportConfigError(stderr, err)
		return 1
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	tuneScheduler(getenv)
	bi := buildinfo.Get()
	log.Info("pixiu starting", "version", bi.Version, "commit", bi.Commit, "built", bi.Date, "go", bi.GoVersion)
	srv, err := server.New(cfg, log)
	if err != nil {
		reportConfigError(stderr, err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	return 0
}

// tuneScheduler gives the Go scheduler one P more than there are gnet event
// loops (one per CPU, each locked to its thread) unless GOMAXPROCS is set. A
// loop blocked in epoll_wait keeps its P until sysmon retakes it (up to
// ~10 ms), so with GOMAXPROCS = CPUs the REST handlers and Go's own netpoller
// could wait that long behind idle loops. Measured on 2 cores: p99 fan-out
// latency 15 ms → 6 ms with one spare P; more spare Ps only add scheduler
// spinning to every REST publish (docs/PERFORMANCE.md).
func tuneScheduler(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.NumCPU() + 1)
	}
}
