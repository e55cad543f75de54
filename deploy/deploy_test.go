// Package deploy holds no code: its tests check the deployment files in this
// directory (and compose.yaml, the Containerfile) with the real tools that
// read them: systemd-analyze, haproxy -c and helm lint/template. A missing
// tool fails the test; nothing is skipped.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/config"
)

// tool returns the path of a command the test needs, or fails naming the
// package that brings it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (apt-get install %s; .ci/run installs it): %v", name, pkg, err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// defaultDrain is cluster.drain_window's default.
func defaultDrain(t *testing.T) time.Duration {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Cluster.DrainWindow.D()
}

// stopAfterDrain is how long the server may take after SIGTERM beyond the
// drain window (transport.Shutdown waits up to 2 s for the last sockets).
const stopAfterDrain = 2 * time.Second

// checkEnv fails for a PIXIU_* name that is not a setting, and loads and
// validates the configuration the variables make, as `pixiu serve` would.
func checkEnv(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := map[string]bool{"PIXIU_CONFIG": true, "PIXIU_APP_ID": true, "PIXIU_APP_KEY": true, "PIXIU_APP_SECRET": true}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	for k := range env {
		if !known[k] {
			t.Errorf("%s sets %s, which is not a Pixiu setting", where, k)
		}
	}
	// Certificate files are checked by name only: they exist where deployed.
	cfg, err := config.Load("", func(k string) string {
		if strings.HasPrefix(k, "PIXIU_TLS_") && strings.HasSuffix(k, "_FILE") {
			return ""
		}
		return env[k]
	})
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Errorf("%s: the configuration its PIXIU_* variables make is refused: %v", where, err)
	}
}

// TestSystemdUnit: systemd-analyze verify accepts the unit without a warning
// (and does warn on a broken copy, so the check can fail), its offline
// security review rates it OK, and it has the sandboxing and stop settings
// the server needs.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze := tool(t, "systemd-analyze", "systemd")
	unit := read(t, "systemd/pixiu.service")

	// verify checks that ExecStart's program exists: point it at an
	// executable that does (this test's own binary).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/pixiu serve\n") {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/pixiu serve")
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(text, "ExecStart=/usr/local/bin/pixiu ", "ExecStart="+self+" ", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out, err := run(t, analyze, "verify", write("pixiu.service", unit))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify pixiu.service: %v\n%s", err, out)
	}
	broken := strings.Replace(unit, "ProtectSystem=strict", "ProtectSystem=sometimes", 1)
	if out, _ := run(t, analyze, "verify", write("broken.service", broken)); !strings.Contains(out, "protect system value") {
		t.Fatalf("systemd-analyze verify did not report a bad ProtectSystem value: %q", out)
	}
	cmd := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "pixiu.service")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Overall exposure level for pixiu.service") {
		t.Fatalf("systemd-analyze security --offline: %v\n%s", err, out)
	}

	keys := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "pixiu", "ProtectSystem": "strict", "ProtectHome": "yes",
		"NoNewPrivileges": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "EnvironmentFile": "-/etc/pixiu/pixiu.env",
		"Environment": "PIXIU_STORE_PATH=/var/lib/pixiu/pixiu.db",
	} {
		if !slices.Contains(keys[k], want) {
			t.Errorf("the unit lacks %s=%s (has %q)", k, want, keys[k])
		}
	}
	if n, err := strconv.Atoi(strings.Join(keys["LimitNOFILE"], "")); err != nil || n < 65536 {
		t.Errorf("LimitNOFILE=%v: want a number sized for many connections", keys["LimitNOFILE"])
	}
	stop, err := time.ParseDuration(strings.Join(keys["TimeoutStopSec"], ""))
	if need := defaultDrain(t) + stopAfterDrain; err != nil || stop <= need {
		t.Errorf("TimeoutStopSec=%v: must exceed drain_window + %s = %s", keys["TimeoutStopSec"], stopAfterDrain, need)
	}

	// The environment file's variables, commented examples included.
	env := map[string]string{"PIXIU_STORE_PATH": "/var/lib/pixiu/pixiu.db"}
	for _, line := range strings.Split(read(t, "systemd/pixiu.env"), "\n") {
		line = strings.TrimPrefix(line, "#")
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "PIXIU_") && !strings.Contains(k, " ") {
			env[k] = v
		}
	}
	checkEnv(t, "systemd/pixiu.env", env)
}

// TestHAProxyConfig: haproxy -c accepts the compose load balancer's
// configuration, and its servers are compose.yaml's Pixiu services.
func TestHAProxyConfig(t *testing.T) {
	t.Parallel()
	haproxy := tool(t, "haproxy", "haproxy")
	out, err := run(t, haproxy, "-c", "-f", "haproxy/haproxy.cfg")
	if err != nil || !strings.Contains(out, "Configuration file is valid") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	if out, err := run(t, haproxy, "-c", "-f", writeTemp(t, "bad.cfg", "defaults\n    mode htttp\n")); err == nil {
		t.Fatalf("haproxy -c accepted a broken configuration:\n%s", out)
	}
	servers := regexp.MustCompile(`(?m)^\s+server \S+ (\S+):6001$`).FindAllStringSubmatch(read(t, "haproxy/haproxy.cfg"), -1)
	var names []string
	for _, m := range servers {
		names = append(names, m[1])
	}
	svc := composeServices(t)
	var pixius []string
	for name, s := range svc {
		if strings.Contains(fmt.Sprint(s["image"]), "PIXIU_IMAGE") {
			pixius = append(pixius, name)
		}
	}
	slices.Sort(names)
	slices.Sort(pixius)
	if len(names) != 3 || !slices.Equal(names, pixius) {
		t.Fatalf("haproxy servers %v, compose Pixiu services %v: want the same three", names, pixius)
	}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func composeServices(t *testing.T) map[string]map[string]any {
	t.Helper()
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "../compose.yaml")), &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return doc.Services
}

// TestComposeFile: three Pixiu nodes on one Redis and one PostgreSQL, each
// with its own volume, a stop grace that covers the drain, HAProxy with the
// checked configuration; every PIXIU_* variable is a setting and the
// configuration they make is accepted.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	svc := composeServices(t)
	for _, name := range []string{"redis", "postgres", "haproxy"} {
		if svc[name] == nil {
			t.Errorf("compose.yaml has no %s service", name)
		}
	}
	if vols := fmt.Sprint(svc["haproxy"]["volumes"]); !strings.Contains(vols, "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg") {
		t.Errorf("haproxy does not mount deploy/haproxy/haproxy.cfg: %s", vols)
	}
	volumes := map[string]bool{}
	for _, name := range []string{"pixiu1", "pixiu2", "pixiu3"} {
		s := svc[name]
		if s == nil {
			t.Fatalf("compose.yaml has no %s service", name)
		}
		env := map[string]string{}
		for k, v := range s["environment"].(map[string]any) {
			// ${VAR:?message} placeholders: any value.
			env[k] = regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(fmt.Sprint(v), "x")
		}
		if env["PIXIU_CLUSTER"] != "redis://redis:6379/0" || !strings.Contains(env["PIXIU_STORE_DSN"], "@postgres:5432/") {
			t.Errorf("%s: PIXIU_CLUSTER=%q PIXIU_STORE_DSN=%q: want the shared Redis and PostgreSQL", name, env["PIXIU_CLUSTER"], env["PIXIU_STORE_DSN"])
		}
		checkEnv(t, "compose.yaml "+name, env)
		grace, err := time.ParseDuration(fmt.Sprint(s["stop_grace_period"]))
		if need := defaultDrain(t) + stopAfterDrain; err != nil || grace <= need {
			t.Errorf("%s: stop_grace_period %v must exceed drain_window + %s", name, s["stop_grace_period"], stopAfterDrain)
		}
		vol := fmt.Sprint(s["volumes"])
		if !strings.Contains(vol, ":/data") || volumes[vol] {
			t.Errorf("%s: volumes %s: want its own volume on /data", name, vol)
		}
		volumes[vol] = true
	}
}

// TestContainerfileEnv: the image's PIXIU_* variables are settings and
// make a valid configuration.
func TestContainerfileEnv(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"../Containerfile", "container/Containerfile.local"} {
		env := map[string]string{}
		for _, line := range strings.Split(read(t, file), "\n") {
			if rest, ok := strings.CutPrefix(line, "ENV "); ok {
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
			}
		}
		if env["PIXIU_STORE_PATH"] != "/data/pixiu.db" {
			t.Errorf("%s: PIXIU_STORE_PATH=%q, want the volume's /data/pixiu.db", file, env["PIXIU_STORE_PATH"])
		}
		checkEnv(t, file, env)
	}
}
