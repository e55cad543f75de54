package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// compare runs the same scenarios against Pixiu and soketi on loopback,
// interleaved (a fresh server per run, the order of the two servers swapped
// every other run), and prints the medians and their ratios. Absolute
// figures on a shared machine move by 2× from one day to the next; the ratio
// of two servers measured in the same minutes does not.

// compareScenario is one row group of the comparison: a pixiu-bench
// scenario with its flags and the figures read from its report.
type compareScenario struct {
	name    string
	args    []string
	figures []compareFigure
}

type compareFigure struct {
	label string
	field string // report field
}

// compareScenarios are the rows of issue 16's table.
func compareScenarios() []compareScenario {
	return []compareScenario{
		{"idle", []string{"idle", "--conns", "19900", "--channels", "100", "--hold", "2s"}, []compareFigure{
			{"idle RSS per subscribed connection, 19,900 conns over 100 channels (KB)", "server_rss_per_conn_kb"},
			{"connect rate for those 19,900 (conns/s)", "connects_per_sec"},
			{"server CPU per connect (µs)", "server_cpu_us_per_connect"},
			{"server CPU from start to settled, incl. deferred work (ms)", "server_cpu_ms_to_settled"},
		}},
		{"churn", []string{"churn", "--concurrency", "64", "--duration", "8s"}, []compareFigure{
			{"connect → subscribe → close cycles/s, 64 workers", "cycles_per_sec"},
			{"server CPU per cycle (µs)", "server_cpu_us_per_cycle"},
		}},
		{"fanout", []string{"fanout", "--subs", "10000", "--events", "1000", "--size", "100"}, []compareFigure{
			{"deliveries/s, 10,000 subscribers, flat out", "deliveries_per_sec"},
			{"server CPU per delivery (µs)", "server_cpu_us_per_delivery"},
		}},
		{"p99-10k", []string{"fanout", "--subs", "10000", "--events", "200", "--rate", "10"}, []compareFigure{
			{"p99 latency, 10,000 subscribers at 10 events/s (ms)", "latency_p99_ms"},
			{"server CPU per delivery (µs)", "server_cpu_us_per_delivery"},
		}},
		{"p99-1k", []string{"fanout", "--subs", "1000", "--events", "1000", "--rate", "100"}, []compareFigure{
			{"p99 latency, 1,000 subscribers at 100 events/s (ms)", "latency_p99_ms"},
			{"server CPU per delivery (µs)", "server_cpu_us_per_delivery"},
		}},
		{"publish", []string{"publish", "--publishers", "8", "--duration", "10s"}, []compareFigure{
			{"signed REST publishes/s, 8 keep-alive publishers", "publishes_per_sec"},
			{"server CPU per request (µs)", "server_cpu_us_per_publish"},
		}},
	}
}

// compareOptions are the flags of `pixiu-bench compare`.
type compareOptions struct {
	pixiu, soketi, node string
	rounds              int
	only                string
	out                 string
	workDir             string
	startTimeout        time.Duration
	from                string
}

// compareServer starts one kind of server on a port.
type compareServer struct {
	name  string
	start func(ctx context.Context, port int, dir string) (*exec.Cmd, error)
}

// compareRun is one scenario run against one server.
type compareRun struct {
	Server   string         `json:"server"`
	Scenario string         `json:"scenario"`
	Round    int            `json:"round"`
	Started  time.Time      `json:"started"`
	LoadAvg  string         `json:"loadavg"`
	Report   map[string]any `json:"report"`
	Error    string         `json:"error,omitempty"`
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o compareOptions
	fs := flag.NewFlagSet("pixiu-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.pixiu, "pixiu", "bin/pixiu", "the pixiu binary (run as `pixiu serve --demo=false`: default settings, the development app)")
	fs.StringVar(&o.soketi, "soketi", ".compare/node_modules/@soketi/soketi/bin/server.js", "soketi's bin/server.js (make compare installs soketi 1.6.1 there)")
	fs.StringVar(&o.node, "node", "node", "the Node.js binary that runs soketi")
	fs.IntVar(&o.rounds, "rounds", 3, "runs of each scenario on each server (medians are reported)")
	fs.StringVar(&o.only, "scenarios", "", "comma-separated subset of: idle, churn, fanout, p99-10k, p99-1k, publish (default all)")
	fs.StringVar(&o.out, "out", "", "also write every run's report as JSON to this file")
	fs.StringVar(&o.workDir, "workdir", "", "directory for the servers' stores and logs (default a new temporary directory)")
	fs.DurationVar(&o.startTimeout, "start-timeout", 60*time.Second, "wait at most this long for a server to answer")
	fs.StringVar(&o.from, "from", "", "run nothing: print the table of the runs in this --out file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || o.rounds < 1 {
		fmt.Fprintf(stderr, "pixiu-bench compare: bad arguments\n")
		return exitUsage
	}
	scenarios := compareScenarios()
	if o.only != "" {
		want := strings.Split(o.only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(s compareScenario) bool { return !slices.Contains(want, s.name) })
		if len(scenarios) != len(want) {
			fmt.Fprintf(stderr, "pixiu-bench compare: unknown scenario in %q\n", o.only)
			return exitUsage
		}
	}
	if o.from != "" {
		var runs []compareRun
		b, err := os.ReadFile(o.from)
		if err == nil {
			err = json.Unmarshal(b, &runs)
		}
		if err != nil || len(runs) == 0 {
			fmt.Fprintf(stderr, "pixiu-bench compare: --from %s: no runs (%v)\n", o.from, err)
			return exitUsage
		}
		writeCompareTable(stdout, runs[0].Started, o.rounds, scenarios, runs)
		return exitOK
	}
	for _, p := range []*string{&o.pixiu, &o.soketi} {
		abs, err := filepath.Abs(*p)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pixiu-bench compare: %v (make compare builds Pixiu and installs soketi)\n", err)
			return exitUsage
		}
		*p = abs // the servers run in their own directories
	}
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "pixiu-compare-")
		if err != nil {
			fmt.Fprintf(stderr, "pixiu-bench compare: %v\n", err)
			return exitFailed
		}
		defer os.RemoveAll(d)
		o.workDir = d
	}
	servers := []compareServer{
		{"pixiu", o.startPixiu},
		{"soketi", o.startSoketi},
	}
	started := time.Now().UTC()
	var runs []compareRun
	code := exitOK
	n := 0
	for round := 1; round <= o.rounds; round++ {
		for _, sc := range scenarios {
			order := servers
			if n%2 == 1 {
				order = []compareServer{servers[1], servers[0]}
			}
			n++
			for _, srv := range order {
				if ctx.Err() != nil {
					break
				}
				run := o.runOne(ctx, srv, sc, round, stderr)
				if ctx.Err() != nil {
					break // interrupted: the run is not whole
				}
				if run.Error != "" || run.Report["ok"] != true {
					code = exitFailed
				}
				runs = append(runs, run)
				// After every run, so that an interrupted comparison keeps
				// what it measured.
				if o.out != "" {
					b, _ := json.MarshalIndent(runs, "", "  ")
					if err := os.WriteFile(o.out, b, 0o644); err != nil {
						fmt.Fprintf(stderr, "pixiu-bench compare: %v\n", err)
						code = exitFailed
					}
				}
			}
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "compare: interrupted; the table has the %d whole runs\n", len(runs))
		code = exitFailed
	}
	writeCompareTable(stdout, started, o.rounds, scenarios, runs)
	return code
}

// runOne starts srv on a free loopback port, runs sc against it and stops it.
func (o *compareOptions) runOne(ctx context.Context, srv compareServer, sc compareScenario, round int, stderr io.Writer) compareRun {
	run := compareRun{Server: srv.name, Scenario: sc.name, Round: round, Started: time.Now().UTC(), LoadAvg: loadAvg()}
	fmt.Fprintf(stderr, "compare: round %d, %s on %s (load %s)\n", round, sc.name, srv.name, run.LoadAvg)
	port, err := freePort()
	if err != nil {
		run.Error = err.Error()
		return run
	}
	dir := filepath.Join(o.workDir, fmt.Sprintf("%s-%s-%d", srv.name, sc.name, round))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		run.Error = err.Error()
		return run
	}
	cmd, err := srv.start(ctx, port, dir)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer stopServer(cmd)
	if err := waitHTTP(ctx, port, o.startTimeout); err != nil {
		run.Error = fmt.Sprintf("%s did not start: %v (log in %s)", srv.name, err, dir)
		fmt.Fprintf(stderr, "compare: %s\n", run.Error)
		return run
	}
	args := append(slices.Clone(sc.args), "--url", "ws://127.0.0.1:"+strconv.Itoa(port),
		"--server-pid", strconv.Itoa(cmd.Process.Pid), "--json", "--quiet")
	var out bytes.Buffer
	Main(ctx, args, &out, stderr)
	if err := json.Unmarshal(out.Bytes(), &run.Report); err != nil {
		run.Error = fmt.Sprintf("no report: %v", err)
		return run
	}
	if run.Report["ok"] != true {
		fmt.Fprintf(stderr, "compare: %s on %s failed: %v\n", sc.name, srv.name, run.Report["failures"])
	}
	return run
}

func (o *compareOptions) startPixiu(_ context.Context, port int, dir string) (*exec.Cmd, error) {
	cmd := exec.Command(o.pixiu, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--demo=false")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PIXIU_STORE_PATH="+filepath.Join(dir, "pixiu.db"))
	return startLogged(cmd, dir)
}

// startSoketi runs soketi's server.js directly under node, so that the
// process measured is the server itself, with the development app's id,
// key and secret and client events on. Its cluster discovery (UDP) is kept
// on loopback.
func (o *compareOptions) startSoketi(_ context.Context, port int, dir string) (*exec.Cmd, error) {
	udp, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.node, o.soketi, "start")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SOKETI_HOST=127.0.0.1", "SOKETI_PORT="+strconv.Itoa(port),
		"SOKETI_DEFAULT_APP_ID=app-id", "SOKETI_DEFAULT_APP_KEY=app-key", "SOKETI_DEFAULT_APP_SECRET=app-secret",
		// User authentication stays off: in soketi it means "close
		// connections that do not sign in" (4009), not "sign-in allowed".
		"SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true",
		"SOKETI_CLUSTER_HOST=127.0.0.1", "SOKETI_CLUSTER_PORT="+strconv.Itoa(udp),
		"SOKETI_CLUSTER_BROADCAST_ADDRESS=127.255.255.255",
		"SOKETI_METRICS_HOST=127.0.0.1", "SOKETI_METRICS_SERVER_PORT="+strconv.Itoa(metrics))
	return startLogged(cmd, dir)
}

func startLogged(cmd *exec.Cmd, dir string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return cmd, nil
}

// stopServer sends SIGTERM to the server's process group, then SIGKILL
// after 10 s.
func stopServer(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// waitHTTP waits until the server answers an HTTP request on port.
func waitHTTP(ctx context.Context, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			c.CloseIdleConnections()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// writeCompareTable prints the medians [ranges] of both servers and the
// ratio of the medians, as Markdown.
func writeCompareTable(w io.Writer, started time.Time, rounds int, scenarios []compareScenario, runs []compareRun) {
	host, _ := os.Hostname()
	var loads []string
	for _, r := range runs {
		loads = append(loads, strings.Fields(r.LoadAvg + " ?")[0])
	}
	fmt.Fprintf(w, "pixiu-bench compare, %s, %s, %d CPUs, up to %d runs per row and server (medians [ranges]), interleaved; 1-min load average during the runs: %s\n\n",
		started.Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), rounds, loadRange(loads))
	fmt.Fprintln(w, "| scenario | figure | Pixiu | soketi | Pixiu / soketi |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, sc := range scenarios {
		for _, f := range sc.figures {
			p := collect(runs, "pixiu", sc.name, f.field)
			s := collect(runs, "soketi", sc.name, f.field)
			// Runs that failed their checks are left out of the figures and
			// counted in the last line.
			ratio := "–"
			if len(p) > 0 && len(s) > 0 && median(s) != 0 {
				ratio = fmt.Sprintf("%.2f×", median(p)/median(s))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", sc.name, f.label, summary(p), summary(s), ratio)
		}
	}
	lost, dups, failed := 0.0, 0.0, 0
	for _, r := range runs {
		lost += num(r.Report["lost"])
		dups += num(r.Report["duplicated"])
		if r.Error != "" || r.Report["ok"] != true {
			failed++
		}
	}
	fmt.Fprintf(w, "\nmessages lost: %.0f, duplicated: %.0f, failed runs (left out of the figures): %d of %d\n", lost, dups, failed, len(runs))
	for _, r := range runs {
		if r.Error != "" || r.Report["ok"] != true {
			why := r.Error
			if why == "" {
				why = fmt.Sprint(r.Report["failures"])
			}
			fmt.Fprintf(w, "- %s on %s, round %d: %.300s\n", r.Scenario, r.Server, r.Round, why)
		}
	}
}

func collect(runs []compareRun, server, scenario, field string) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Server != server || r.Scenario != scenario || r.Error != "" || r.Report["ok"] != true {
			continue // a run that lost messages or failed its checks has no figure to compare
		}
		if v, ok := r.Report[field].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summary(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if len(v) == 1 {
		return fmtFigure(v[0])
	}
	return fmt.Sprintf("%s [%s–%s]", fmtFigure(median(v)), fmtFigure(lo), fmtFigure(hi))
}

func fmtFigure(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
}

func loadRange(v []string) string {
	var f []float64
	for _, s := range v {
		if x, err := strconv.ParseFloat(s, 64); err == nil {
			f = append(f, x)
		}
	}
	if len(f) == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f–%.1f", slices.Min(f), slices.Max(f))
}
