package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
)

// pixiu runs pixiu with args and env and returns the exit code, stdout and
// stderr. A server it starts by mistake stops after 20 seconds.
func pixiu(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pixiu.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigCheckUnknownKeys: unknown keys anywhere are errors with file and
// line, and serve refuses the file as check does.
func TestConfigCheckUnknownKeys(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "port: 6001\nconsole:\n  enable: false\napps:\n  - id: a\n    key: k\n    secret: s\n    max_conections: 5\n")
	code, out, errs := pixiu(t, nil, "config", "check", file)
	for _, want := range []string{file + ":3: console.enable: unknown key (known keys here: enabled, password",
		file + ":8: apps[0].max_conections: unknown key"} {
		if code != 1 || out != "" || !strings.Contains(errs, want) {
			t.Errorf("check: %d %q\n%s\nwant %q", code, out, errs, want)
		}
	}
	scode, sout, serrs := pixiu(t, map[string]string{"PIXIU_STORE_PATH": filepath.Join(t.TempDir(), "s.db")}, "serve", "--config", file)
	if scode != 1 || sout != "" || serrs != errs {
		t.Fatalf("serve: %d %q\n%s\nwant check's\n%s", scode, sout, serrs, errs)
	}
}

// TestConfigCheckNamesEachBadValue: every wrong value is reported with its
// key (and line), and serve refuses exactly what check refuses, saying the same.
func TestConfigCheckNamesEachBadValue(t *testing.T) {
	t.Parallel()
	app := "apps:\n  - id: a\n    key: k\n    secret: s\n"
	cases := []struct{ name, yaml, want string }{
		{"log level", "log_level: loud\n", ":1: log_level: want debug, info, warn or error, not \"loud\""},
		{"log format", "log_format: xml\n", ":1: log_format: want text or json, not \"xml\""},
		{"duration", "pong_timeout: soon\n", ":1: pong_timeout: want a duration"},
		{"nested duration", "webhooks:\n  retry_horizon: 5 minutes\n", ":2: webhooks.retry_horizon: want a duration"},
		{"negative duration", "cluster:\n  drain_window: -1s\n", ":2: cluster.drain_window: must not be negative"},
		{"negative limit", "limits:\n  max_event_bytes: -5\n", ":2: limits.max_event_bytes: must not be negative"},
		{"not a number", "limits:\n  max_batch_events: ten\n", ":2: limits.max_batch_events: want a whole number, not \"ten\""},
		{"not a bool", "demo: maybe\n", ":1: demo: want true or false, not \"maybe\""},
		{"port", "port: 70000\n", ":1: port: must be between 1 and 65535"},
		{"admin addr", "admin_addr: nine\n", ":1: admin_addr: want host:port"},
		{"redis url", "cluster:\n  redis: localhost:6379\n", ":2: cluster.redis: want a Redis URL"},
		{"sentinel url", "cluster:\n  redis: redis+sentinel://s1:26379,s2:26379\n", ":2: cluster.redis: want a Redis URL, not \"redis+sentinel://s1:26379,s2:26379\": redis+sentinel:// wants the master name"},
		{"sentinel long form", "cluster:\n  sentinel:\n    addrs: [s1:26379]\n", ":2: cluster.sentinel.master: is required"},
		{"outbox", "webhooks:\n  max_outbox_events: -1\n", ":2: webhooks.max_outbox_events: must not be negative"},
		{"mapping", "limits: 5\n", ":1: limits: want a mapping"},
		{"webhook url", app + "    webhooks:\n      - url: ftp://x\n", ":6: apps[0].webhooks[0].url: must be an absolute http:// or https:// URL"},
		{"webhook event", app + "    webhooks:\n      - url: https://x.test/\n        events: [channel_existence]\n",
			":7: apps[0].webhooks[0].events: unknown event type \"channel_existence\""},
		{"app limit", app + "    max_presence_members: 0\n", ":5: apps[0].max_presence_members: must be between 1 and 10000, not 0"},
		{"app quota", app + "    daily_message_quota: -1\n", ":5: apps[0].daily_message_quota: must be between 0"},
		{"app credentials", "apps:\n  - id: a\n    key: k\n", ":2: apps[0]: id, key and secret are required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, tc.yaml)
			code, out, errs := pixiu(t, nil, "config", "check", file)
			if code != 1 || out != "" || !strings.Contains(errs, "pixiu: config: "+file+tc.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("check: %d %q\n%s\nwant one line with %q", code, out, errs, file+tc.want)
			}
			env := map[string]string{"PIXIU_STORE_PATH": filepath.Join(t.TempDir(), "s.db")}
			scode, sout, serrs := pixiu(t, env, "serve", "--config", file, "--host", "127.0.0.1")
			if scode != 1 || sout != "" || serrs != errs {
				t.Fatalf("serve: %d %q\n%s\nwant check's\n%s", scode, sout, serrs, errs)
			}
		})
	}
}

// TestConfigCheckEnvironment: check reads the PIXIU_* environment as serve
// does and names the variable of a wrong value.
func TestConfigCheckEnvironment(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "port: 6001\n")
	code, out, _ := pixiu(t, nil, "config", "check", file)
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("valid file: %d %q", code, out)
	}
	env := map[string]string{"PIXIU_LOG_FORMAT": "xml", "PIXIU_LIMITS_MAX_EVENT_BYTES": "lots", "PIXIU_CONSOLE_ENABLED": "nope"}
	code, _, errs := pixiu(t, env, "config", "check", file)
	for _, want := range []string{
		`limits.max_event_bytes (PIXIU_LIMITS_MAX_EVENT_BYTES): want a whole number, not "lots"`,
		`console.enabled (PIXIU_CONSOLE_ENABLED): want true or false, not "nope"`,
	} {
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("env: %d\n%s\nwant %q", code, errs, want)
		}
	}
	delete(env, "PIXIU_LIMITS_MAX_EVENT_BYTES")
	delete(env, "PIXIU_CONSOLE_ENABLED")
	if code, _, errs := pixiu(t, env, "config", "check", file); code != 1 ||
		!strings.Contains(errs, `log_format (PIXIU_LOG_FORMAT): want text or json, not "xml"`) {
		t.Fatalf("env value: %d\n%s", code, errs)
	}
}

// TestConfigDefault: `config default` prints the effective defaults (no
// null, no zero where the default is not zero), and check accepts it.
func TestConfigDefault(t *testing.T) {
	t.Parallel()
	code, out, errs := pixiu(t, nil, "config", "default")
	if code != 0 || errs != "" {
		t.Fatalf("default: %d %s", code, errs)
	}
	for _, want := range []string{"demo: true\n", "dev_app: true\n", "    enabled: true\n", "max_event_bytes: 10240\n",
		"#     enabled: true\n", "#     max_presence_members: 100\n", "#     max_client_events_per_second: 10\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("default lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "null") {
		t.Errorf("default has a null:\n%s", out)
	}
	file := writeFile(t, out)
	cfg, err := config.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := config.Load("", nil)
	if cfg.Addr() != def.Addr() || *cfg.Console.Enabled != *def.Console.Enabled || cfg.Limits != def.Limits || cfg.Webhooks != def.Webhooks {
		t.Fatalf("the printed defaults read back differently: %+v", cfg)
	}
	if code, out, errs := pixiu(t, nil, "config", "check", file); code != 0 {
		t.Fatalf("check of the defaults: %d %s %s", code, out, errs)
	}
}

// TestHelpAndUsageErrors: every command prints its usage to stdout and exits
// 0 for --help, and answers a wrong flag or argument with one line and a
// hint on stderr and exit 2.
func TestHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	commands := [][]string{{}, {"serve"}, {"trigger"}, {"channels"}, {"users"}, {"config"}, {"config", "check"},
		{"config", "default"}, {"apps"}, {"apps", "create"}, {"apps", "list"}, {"apps", "show"}, {"apps", "update"},
		{"apps", "rotate-secret"}, {"apps", "delete"}, {"webhooks"}, {"webhooks", "status"}, {"webhooks", "dead-letters"},
		{"webhooks", "replay"}, {"webhooks", "purge"}, {"console"}, {"console", "reset-password"},
		{"console", "sign-out-everywhere"}, {"version"}}
	for _, cmd := range commands {
		name := strings.TrimSpace("pixiu " + strings.Join(cmd, " "))
		for _, help := range []string{"--help", "-h"} {
			code, out, errs := pixiu(t, nil, append(cmd, help)...)
			if code != 0 || errs != "" || !strings.Contains(out, "sage") || !strings.Contains(out, "pixiu") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", name, help, code, out, errs)
			}
		}
		if len(cmd) == 0 {
			continue
		}
		code, out, errs := pixiu(t, nil, append(cmd, "--no-such-flag")...)
		want := name + ": unknown flag --no-such-flag\nRun '" + name + " --help' for usage.\n"
		if len(cmd) == 1 && (cmd[0] == "config" || cmd[0] == "apps" || cmd[0] == "webhooks" || cmd[0] == "console") {
			want = name + `: unknown subcommand "--no-such-flag"`
		}
		if code != 2 || out != "" || !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 2 {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want 2 and %q", name, code, out, errs, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--demo=maybe"}, `pixiu serve: invalid value "maybe" for --demo: want true or false, not "maybe"`},
		{[]string{"serve", "--dev-app", "sometimes"}, `pixiu serve: invalid value "sometimes" for --dev-app: want true or false`},
		{[]string{"serve", "--port", "x"}, `pixiu serve: invalid value "x" for --port`},
		{[]string{"serve", "extra"}, `pixiu serve: unexpected argument "extra"`},
		{[]string{"config", "check"}, "pixiu config check: want 1 argument(s), got 0"},
		{[]string{"apps", "show"}, "pixiu apps show: want 1 argument(s), got 0"},
		{[]string{"webhooks", "replay"}, "pixiu webhooks replay: give batch ids or --all"},
		{[]string{"nope"}, `pixiu: unknown command "nope"`},
	} {
		code, out, errs := pixiu(t, nil, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, tc.want) || !strings.Contains(errs, "--help' for usage.") ||
			strings.Contains(errs, "strconv") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}

// TestStoreCommandsNeedAStore: apps, webhooks and console commands on a
// store path that does not exist say so and create nothing.
func TestStoreCommandsNeedAStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "typo", "pixiu.db")
	env := map[string]string{"PIXIU_STORE_PATH": path}
	for _, args := range [][]string{{"apps", "list"}, {"apps", "create", "x"}, {"webhooks", "status"},
		{"console", "sign-out-everywhere"}} {
		code, out, errs := pixiu(t, env, args...)
		if code != 1 || out != "" || !strings.Contains(errs, "no store at "+path) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("a store directory was created: %v", err)
	}
}
