package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/store"
)

// TestConsoleResetPassword: reset-password generates and prints a password,
// or reads one from stdin; either way every session ends. It refuses when
// the password comes from the config.
func TestConsoleResetPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	getenv := env(map[string]string{"PIXIU_STORE_PATH": path})
	st, err := store.Open(ctx, store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	session := []byte("0123456789abcdef")
	if err := st.AddSession(ctx, session, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, getenv func(string) string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runConsole(ctx, args, getenv, strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errs := run("", getenv, "reset-password")
	m := regexp.MustCompile(`new console password: ([a-z0-9-]{23})\n`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "signed out 1 console sessions") {
		t.Fatalf("reset-password: %d %q %q", code, out, errs)
	}
	hash1, ok, _ := st.Meta(ctx, "console_password_hash")
	if active, _ := st.SessionActive(ctx, session, time.Now()); active || !ok || strings.Contains(hash1, m[1]) {
		t.Fatalf("after reset: session active %v, hash %q", active, hash1)
	}
	if code, _, errs := run("too short\n", getenv, "reset-password", "--password-stdin"); code != 1 || !strings.Contains(errs, "at least 12") {
		t.Fatalf("short password: %d %q", code, errs)
	}
	if code, _, errs := run("", getenv, "reset-password", "--password-stdin"); code != 1 || !strings.Contains(errs, "no password") {
		t.Fatalf("empty stdin: %d %q", code, errs)
	}
	code, out, errs = run("correct horse battery staple\n", getenv, "reset-password", "--password-stdin", "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v["sessions_ended"] != float64(0) || v["password"] != nil {
		t.Fatalf("reset-password --password-stdin --json: %d %q %q", code, out, errs)
	}
	if hash2, _, _ := st.Meta(ctx, "console_password_hash"); hash2 == hash1 {
		t.Fatal("the password hash did not change")
	}
	withConfig := env(map[string]string{"PIXIU_STORE_PATH": path, "PIXIU_CONSOLE_PASSWORD": "from-the-environment"})
	if code, _, errs := run("", withConfig, "reset-password"); code != 1 || !strings.Contains(errs, "PIXIU_CONSOLE_PASSWORD") {
		t.Fatalf("reset with a configured password: %d %q", code, errs)
	}
	if err := st.AddSession(ctx, session, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run("", getenv, "sign-out-everywhere"); code != 0 || out != "signed out 1 console sessions\n" {
		t.Fatalf("sign-out-everywhere: %d %q", code, out)
	}
	if code, _, _ := run("", getenv, "reset"); code != 2 {
		t.Fatalf("unknown subcommand: %d", code)
	}
}

// TestServeFailingStartKeepsPassword: a start that cannot bind its port
// generates no console password (it would be printed to a log no one reads
// and never again).
func TestServeFailingStartKeepsPassword(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	path := filepath.Join(t.TempDir(), "pixiu.db")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"serve", "--host", "127.0.0.1", "--port", port, "--demo=false"},
		env(map[string]string{"PIXIU_STORE_PATH": path}), &stdout, &stderr)
	if code == 0 {
		t.Fatal("serve on a busy port succeeded")
	}
	if strings.Contains(stderr.String(), "generated the admin password") {
		t.Fatalf("a failed start printed the one-time password:\n%s", stderr.String())
	}
	st, err := store.Open(context.Background(), store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.Meta(context.Background(), "console_password_hash"); ok || err != nil {
		t.Fatalf("a failed start stored a password hash (%v)", err)
	}
}
