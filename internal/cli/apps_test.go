package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/store"
)

// appsEnv runs `pixiu apps …` on a store of its own.
type appsEnv struct {
	t   *testing.T
	env map[string]string
}

func newAppsEnv(t *testing.T) *appsEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	makeStore(t, path)
	return &appsEnv{t: t, env: map[string]string{"PIXIU_STORE_PATH": path}}
}

// makeStore creates an empty store at path, as a first `pixiu serve` does.
func makeStore(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func (e *appsEnv) run(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"apps"}, args...), func(k string) string { return e.env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func (e *appsEnv) json(args ...string) jsonApp {
	e.t.Helper()
	code, out, errs := e.run(append(args, "--json")...)
	if code != 0 {
		e.t.Fatalf("apps %v: %d %s", args, code, errs)
	}
	var a jsonApp
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		e.t.Fatalf("apps %v: %q: %v", args, out, err)
	}
	return a
}

func TestAppsLifecycle(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	code, out, errs := e.run("create", "My chat", "--quota", "1000", "--client-events")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	m := regexp.MustCompile(`app_id  (\d{7})\n  key     ([0-9a-f]{20})\n  secret  ([0-9a-f]{20})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create output lacks the credentials:\n%s", out)
	}
	id, key, secret := m[1], m[2], m[3]
	for _, want := range []string{"new Pusher('" + key + "'", "secret: '" + secret + "'", "PIXIU_APP_ID=" + id,
		"daily quota 1000", "client events on", `Host:   "127.0.0.1:6001"`, "PHP:\n  <?php\n",
		"new Pusher\\Pusher('" + key + "', '" + secret + "', '" + id + "', [", "Laravel:\n  # .env\n", "PUSHER_APP_KEY=" + key + "\n",
		"PUSHER_SCHEME=http\n", "broadcaster: 'pusher'"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = e.run("list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "0 / 1000") || strings.Contains(out, "app-id") {
		t.Fatalf("list: %d\n%s", code, out)
	}

	a := e.json("update", id, "--enabled=false", "--max-connections", "50", "--name", "Renamed")
	if a.Enabled || a.MaxConnections != 50 || a.Name != "Renamed" || !a.ClientEvents || a.DailyMessageQuota != 1000 {
		t.Fatalf("update: %+v", a)
	}
	if a := e.json("show", id); a.Key != key || a.Secret != secret || a.Enabled {
		t.Fatalf("show: %+v", a)
	}
	a = e.json("update", id, "--history", "price-, private-orders", "--history-max-events", "20")
	if strings.Join(a.History.Channels, "|") != "price-|private-orders" || a.History.MaxEvents != 20 || a.History.MaxAgeSeconds != 3600 {
		t.Fatalf("update history: %+v", a.History)
	}
	if code, _, errs := e.run("update", id, "--history-max-age", "0"); code != 2 || !strings.Contains(errs, "history.max_age_seconds") {
		t.Fatalf("history-max-age 0: %d %s", code, errs)
	}
	if a := e.json("rotate-secret", id); a.Secret == secret || a.Key != key {
		t.Fatalf("rotate: %+v", a)
	}
	code, out, _ = e.run("delete", id)
	if code != 0 || !strings.Contains(out, "Deleted app "+id) {
		t.Fatalf("delete: %d %s", code, out)
	}
	code, _, errs = e.run("show", id)
	if code != 1 || !strings.Contains(errs, "no app with id") {
		t.Fatalf("show deleted: %d %s", code, errs)
	}
}

func TestAppsErrors(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "give a subcommand"},
		{[]string{"frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{[]string{"create"}, 2, "want 1 argument"},
		{[]string{"create", " ", "--max-connections", "-1"}, 2, "max_connections: must be between"},
		{[]string{"update", "app-id", "--quota", "5"}, 1, "no app with id"}, // the CLI adds no development app
		{[]string{"delete", "app-id"}, 1, "no app with id"},
		{[]string{"rotate-secret", "1234567"}, 1, "no app with id"},
		{[]string{"create", "x", "--quota", "lots"}, 2, "invalid value"},
	}
	for _, tc := range cases {
		code, _, errs := e.run(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("apps %v: %d %q, want %d with %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	if code, out, _ := e.run("list", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("failed commands changed the store: %s", out)
	}
}

func TestAppsUsesConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "pixiu.yaml")
	cfg := "host: 10.0.0.5\nport: 7001\nstore:\n  path: " + filepath.Join(dir, "s.db") +
		"\napps:\n  - {id: cfg, key: cfg-key, secret: cfg-secret}\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	makeStore(t, filepath.Join(dir, "s.db"))
	e := &appsEnv{t: t, env: map[string]string{}}
	code, out, errs := e.run("create", "--config", file, "Svc")
	if code != 0 || !strings.Contains(out, "wsHost: '10.0.0.5',\n      wsPort: 7001,") || !strings.Contains(out, "'port' => 7001,") {
		t.Fatalf("create with config: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db")); err != nil {
		t.Fatalf("store not at the configured path: %v", err)
	}
	if code, out, _ := e.run("list", "--config", file); code != 0 || !strings.Contains(out, "cfg-key") || strings.Contains(out, "app-key") {
		t.Fatalf("list with config: %s", out)
	}
	if code, _, errs := e.run("update", "--config", file, "cfg", "--quota", "5"); code != 1 || !strings.Contains(errs, "read-only") {
		t.Fatalf("update a config app: %d %s", code, errs)
	}
	code, out, _ = e.run("show", "--config", file, "cfg")
	if code != 0 || !strings.Contains(out, "read-only") || !strings.Contains(out, "cfg-secret") {
		t.Fatalf("show config app: %d %s", code, out)
	}
}

// TestClientEndpointTLS: with TLS on, `apps show` prints https/wss snippets
// for the certificate's name, and `trigger --config` speaks https to it.
func TestClientEndpointTLS(t *testing.T) {
	t.Parallel()
	cert, key, _ := pixiutest.NewCA(t).Leaf(t) // for localhost, 127.0.0.1, ::1
	dir := t.TempDir()
	file := filepath.Join(dir, "pixiu.yaml")
	cfg := "port: 7443\nstore:\n  path: " + filepath.Join(dir, "s.db") + "\ntls:\n  cert_file: " + cert + "\n  key_file: " + key +
		"\napps:\n  - {id: cfg, key: cfg-key, secret: cfg-secret}\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	makeStore(t, filepath.Join(dir, "s.db"))
	e := &appsEnv{t: t, env: map[string]string{}}
	code, out, errs := e.run("show", "--config", file, "cfg")
	if code != 0 {
		t.Fatalf("show: %d %s", code, errs)
	}
	for _, want := range []string{"wsHost: 'localhost'", "wssPort: 7443", "forceTLS: true", "useTLS: true", `Host:   "localhost:7443"`,
		"Secure: true", "'scheme' => 'https'", "PUSHER_HOST=localhost\n", "PUSHER_SCHEME=https\n", "Pusher.encrypted = true"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "http'") || strings.Contains(out, "forceTLS: false") {
		t.Errorf("show has a plain-HTTP snippet:\n%s", out)
	}

	cf := connFlags{configPath: file}
	opts, err := cf.options(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Scheme != "https" || opts.Host != "localhost" || opts.Port != 7443 || opts.Key != "cfg-key" {
		t.Fatalf("trigger --config on a TLS config: %+v", opts)
	}
	cf.host = "127.0.0.1"
	if opts, _ := cf.options(env(nil)); opts.Scheme != "https" || opts.Host != "127.0.0.1" {
		t.Fatalf("--host on a TLS config: %+v", opts)
	}
	cf.host = "http://127.0.0.1:7000"
	if opts, _ := cf.options(env(nil)); opts.Scheme != "" {
		t.Fatalf("a host URL keeps its scheme: %+v", opts)
	}
}
