package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes of Main.
const (
	exitOK      = 0
	exitFailed  = 1 // the run completed but a check failed (loss, errors) or it could not run
	exitUsage   = 2 // bad flags or a refused target
	fdReserve   = 64
	usageHeader = `usage: pixiu-bench <scenario> [flags]

Load tool for Pusher Channels-compatible servers on loopback (127.0.0.0/8, ::1).

scenarios:
  idle     open --conns subscribed connections; server RSS per connection
  fanout   --subs subscribers on one channel, --events via REST; deliveries/s, latency, loss
  publish  signed REST publishes to a channel without subscribers; publishes/s
  churn    connect → subscribe → close cycles; cycles/s
  slow     never-reading subscribers next to reading ones; server RSS and descriptors, loss, p99
  compare  the scenarios above against Pixiu and soketi, interleaved; medians and ratios (make compare)

Run "pixiu-bench <scenario> -h" for its flags.
`
)

// Main runs the tool with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usageHeader)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "compare" {
		return runCompare(ctx, args[1:], stdout, stderr)
	}
	c := &command{name: args[0], stdout: stdout, stderr: stderr}
	run, err := c.scenario()
	if err != nil {
		fmt.Fprintf(stderr, "pixiu-bench: %v\n\n%s", err, usageHeader)
		return exitUsage
	}
	if err := c.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pixiu-bench %s: unexpected argument %q\n", c.name, c.fs.Arg(0))
		return exitUsage
	}
	opts, code := c.options(ctx)
	if code != exitOK {
		return code
	}
	if c.cpuProfile != "" {
		stop, err := startProfile(c.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "pixiu-bench: %v\n", err)
			return exitUsage
		}
		defer stop()
	}
	rep, err := run(ctx, opts)
	if rep != nil {
		rep.add("target", opts.Target.Addr())
		if len(opts.Subscribers) > 0 {
			all := []string{opts.Target.Addr()}
			for _, t := range opts.Subscribers {
				all = append(all, t.Addr())
			}
			rep.add("subscriber_targets", all)
		}
		if opts.REST != nil {
			rep.add("rest_target", opts.REST.Addr())
		}
		if opts.ServerPID > 0 {
			rep.add("server_pid", opts.ServerPID)
		}
		if len(opts.MorePIDs) > 0 {
			rep.add("more_server_pids", opts.MorePIDs)
		}
		if len(opts.RedisPIDs) > 0 {
			rep.add("redis_pid", opts.RedisPIDs)
		}
		if werr := rep.write(stdout, c.json); werr != nil {
			fmt.Fprintf(stderr, "pixiu-bench: %v\n", werr)
			return exitFailed
		}
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "pixiu-bench %s: %v\n", c.name, err)
		return exitFailed
	case rep != nil && len(rep.failed) > 0:
		return exitFailed
	}
	return exitOK
}

// command holds the flag set of one invocation.
type command struct {
	name           string
	stdout, stderr io.Writer
	fs             *flag.FlagSet

	url, appID, key, secret string
	restURL, redisPID       string
	serverPID, httpClient   string
	cpuProfile              string
	json, quiet             bool
	tls                     bool   // WebSockets over TLS (idle, churn)
	caFile                  string // PEM roots for --tls; default the system's
	loops, dialWorkers      int
	connectTimeout          time.Duration
	setupTimeout            time.Duration
}

type scenarioFunc func(context.Context, runOptions) (*report, error)

func (c *command) scenario() (scenarioFunc, error) {
	c.fs = flag.NewFlagSet("pixiu-bench "+c.name, flag.ContinueOnError)
	c.fs.SetOutput(c.stderr)
	fs := c.fs
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:6001", "server address (ws://host:port, http://host:port or host:port); loopback only. fanout: a comma-separated list spreads the subscribers over several nodes")
	fs.StringVar(&c.restURL, "rest-url", "", "fanout: publish through this node's REST API instead of the first --url (cross-node cost)")
	fs.StringVar(&c.redisPID, "redis-pid", "", "fanout: Redis process ids (comma-separated) whose CPU is read from /proc: Redis CPU per published event")
	fs.StringVar(&c.appID, "app-id", "app-id", "app id (REST path)")
	fs.StringVar(&c.key, "key", "app-key", "app key")
	fs.StringVar(&c.secret, "secret", "app-secret", "app secret (REST signing)")
	fs.StringVar(&c.serverPID, "server-pid", "", `server process id(s), comma-separated, to read CPU/RSS from /proc (summed, and per process), or "auto" (the processes listening on the --url and --rest-url ports)`)
	fs.StringVar(&c.httpClient, "http", httpRaw, `REST client: "raw" (minimal keep-alive HTTP/1.1, cheap) or "std" (net/http)`)
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to this file")
	fs.BoolVar(&c.json, "json", false, "print the result as one JSON object")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines on stderr")
	fs.IntVar(&c.loops, "loops", 0, "event loops reading sockets (default GOMAXPROCS)")
	fs.IntVar(&c.dialWorkers, "dial-workers", 32, "connections dialled in parallel")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 10*time.Second, "timeout of one connection's handshake")
	fs.DurationVar(&c.setupTimeout, "setup-timeout", 120*time.Second, "timeout for all connections to be subscribed")
	fs.BoolVar(&c.tls, "tls", false, "WebSocket connections over TLS (wss://; idle and churn only; the certificate must name the target IP)")
	fs.StringVar(&c.caFile, "ca", "", "with --tls: PEM file of the CA to trust (default: the system roots)")

	switch c.name {
	case "idle":
		var o idleOptions
		fs.IntVar(&o.Conns, "conns", 1000, "connections to hold")
		fs.IntVar(&o.Channels, "channels", 1, "public channels to spread them over")
		fs.StringVar(&o.Channel, "channel", "idle", "channel name (prefix when --channels > 1)")
		fs.DurationVar(&o.Settle, "settle", 2*time.Second, "wait after subscribing before reading RSS and CPU (and on until no subscription count came for 1s)")
		fs.DurationVar(&o.Hold, "hold", 10*time.Second, "hold the connections open this long")
		return func(ctx context.Context, opts runOptions) (*report, error) { return runIdle(ctx, opts, o) }, nil
	case "fanout":
		var o fanoutOptions
		fs.IntVar(&o.Subs, "subs", 1000, "subscribers")
		fs.IntVar(&o.Events, "events", 1000, "events to publish")
		fs.Float64Var(&o.Rate, "rate", 0, "events per second (0 = flat out)")
		fs.IntVar(&o.Size, "size", 100, "bytes of each event's data")
		fs.IntVar(&o.Publishers, "publishers", 4, "concurrent REST publishers")
		fs.IntVar(&o.Window, "window", 50, "flat out: max events in flight (published, not yet received by all)")
		fs.StringVar(&o.Channel, "channel", "fanout", "channel name")
		fs.DurationVar(&o.Drain, "drain", 10*time.Second, "give up after no delivery progress for this long")
		return func(ctx context.Context, opts runOptions) (*report, error) { return runFanout(ctx, opts, o) }, nil
	case "publish":
		var o publishOptions
		fs.IntVar(&o.Publishers, "publishers", 8, "concurrent keep-alive publishers")
		fs.DurationVar(&o.Duration, "duration", 10*time.Second, "run time")
		fs.IntVar(&o.MaxRequests, "max", 10_000_000, "stop after this many requests")
		fs.StringVar(&o.Channel, "channel", "publish-nosubs", "channel (should have no subscribers)")
		fs.IntVar(&o.Size, "size", 100, "bytes of each event's data")
		return func(ctx context.Context, opts runOptions) (*report, error) { return runPublish(ctx, opts, o) }, nil
	case "churn":
		var o churnOptions
		fs.IntVar(&o.Concurrency, "concurrency", 64, "connections in flight")
		fs.DurationVar(&o.Duration, "duration", 10*time.Second, "run time")
		fs.IntVar(&o.MaxCycles, "max", 10_000_000, "stop after this many cycles")
		fs.StringVar(&o.Channel, "channel", "churn", "channel name (prefix when --channels > 1)")
		fs.IntVar(&o.Channels, "channels", 1, "spread the workers over this many channels")
		return func(ctx context.Context, opts runOptions) (*report, error) { return runChurn(ctx, opts, o) }, nil
	case "slow":
		var o slowOptions
		fs.IntVar(&o.Slow, "slow", 2000, "subscribers that never read")
		fs.IntVar(&o.Normal, "normal", 10, "subscribers that read everything")
		fs.BoolVar(&o.Bystander, "bystander", true, "one more reading subscriber on another channel (each event is published to both)")
		fs.IntVar(&o.Events, "events", 2000, "events to publish")
		fs.Float64Var(&o.Rate, "rate", 100, "events per second")
		fs.IntVar(&o.Size, "size", 1000, "bytes of each event's data")
		fs.IntVar(&o.RcvBuf, "rcvbuf", 4096, "SO_RCVBUF of the slow sockets")
		fs.StringVar(&o.Channel, "channel", "slow", "channel name")
		fs.DurationVar(&o.After, "after", 60*time.Second, "after the slow consumers are closed, watch the server's RSS and descriptors at most this long")
		fs.DurationVar(&o.Drain, "drain", 10*time.Second, "give up after no delivery progress for this long")
		return func(ctx context.Context, opts runOptions) (*report, error) { return runSlow(ctx, opts, o) }, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", c.name)
}

// options checks the target and the file limit and builds runOptions.
func (c *command) options(ctx context.Context) (runOptions, int) {
	if c.httpClient != httpRaw && c.httpClient != httpStd {
		fmt.Fprintf(c.stderr, "pixiu-bench: --http must be %q or %q\n", httpRaw, httpStd)
		return runOptions{}, exitUsage
	}
	urls := strings.Split(c.url, ",")
	if len(urls) > 1 && c.name != "fanout" {
		fmt.Fprintf(c.stderr, "pixiu-bench: only fanout takes several --url\n")
		return runOptions{}, exitUsage
	}
	if (c.restURL != "" || c.redisPID != "") && c.name != "fanout" {
		fmt.Fprintf(c.stderr, "pixiu-bench: --rest-url and --redis-pid are for fanout\n")
		return runOptions{}, exitUsage
	}
	var targets []Target
	for _, u := range urls {
		t, err := ResolveTarget(ctx, strings.TrimSpace(u))
		if err != nil {
			fmt.Fprintf(c.stderr, "pixiu-bench: refusing target: %v\n", err)
			return runOptions{}, exitUsage
		}
		targets = append(targets, t)
	}
	tc, err := c.tlsConfig(targets[0])
	targets[0].TLS = tc
	if err != nil {
		fmt.Fprintf(c.stderr, "pixiu-bench: %v\n", err)
		return runOptions{}, exitUsage
	}
	o := runOptions{
		Target: targets[0], Subscribers: targets[1:], AppID: c.appID, Key: c.key, Secret: c.secret,
		HTTP: c.httpClient, Loops: c.loops, DialWorkers: c.dialWorkers,
		ConnectTimeout: c.connectTimeout, SetupTimeout: c.setupTimeout,
	}
	if c.restURL != "" {
		t, err := ResolveTarget(ctx, c.restURL)
		if err != nil {
			fmt.Fprintf(c.stderr, "pixiu-bench: refusing target: %v\n", err)
			return runOptions{}, exitUsage
		}
		o.REST = &t
		targets = append(targets, t)
	}
	if !c.quiet {
		o.Progress = c.stderr
	}
	var pids []int
	switch c.serverPID {
	case "":
	case "auto":
		seen := map[int]bool{}
		for _, t := range targets {
			pid, err := findListenerPID(t.Port)
			if err != nil {
				fmt.Fprintf(c.stderr, "pixiu-bench: %v\n", err)
				return o, exitUsage
			}
			if !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	default:
		var err error
		if pids, err = parsePIDs(c.serverPID); err != nil {
			fmt.Fprintf(c.stderr, "pixiu-bench: bad --server-pid: %v\n", err)
			return o, exitUsage
		}
	}
	if len(pids) > 0 {
		o.ServerPID, o.MorePIDs = pids[0], pids[1:]
	}
	if c.redisPID != "" {
		var err error
		if o.RedisPIDs, err = parsePIDs(c.redisPID); err != nil {
			fmt.Fprintf(c.stderr, "pixiu-bench: bad --redis-pid: %v\n", err)
			return o, exitUsage
		}
	}
	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintf(c.stderr, "pixiu-bench: %v\n", err)
	}
	need := c.socketsNeeded() + max(c.dialWorkers, 1) + fdReserve
	if limit > 0 && uint64(need) > limit {
		fmt.Fprintf(c.stderr, "pixiu-bench: needs about %d file descriptors, the limit is %d\n", need, limit)
		return o, exitUsage
	}
	return o, exitOK
}

// parsePIDs reads a comma-separated list of readable process ids.
func parsePIDs(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		if _, err := readProc(pid); err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, nil
}

// tlsConfig is the client TLS configuration of --tls and --ca (nil without --tls).
func (c *command) tlsConfig(t Target) (*tls.Config, error) {
	if !c.tls {
		if c.caFile != "" {
			return nil, errors.New("--ca needs --tls")
		}
		return nil, nil
	}
	if c.name != "idle" && c.name != "churn" {
		return nil, fmt.Errorf("--tls is for idle and churn (the REST client is plain)")
	}
	cfg := &tls.Config{ServerName: t.IP.String(), MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate", c.caFile)
		}
	}
	return cfg, nil
}

// socketsNeeded reads the connection count flag of the scenario.
func (c *command) socketsNeeded() int {
	n := 0
	for _, name := range []string{"conns", "subs", "concurrency", "publishers", "slow", "normal"} {
		if f := c.fs.Lookup(name); f != nil {
			v, _ := strconv.Atoi(f.Value.String())
			n += v
		}
	}
	return n
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
func raiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read file limit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return rl.Cur, fmt.Errorf("raise file limit: %w", err)
		}
	}
	return rl.Cur, nil
}

// startProfile starts the CPU profiler; the returned function stops it.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
