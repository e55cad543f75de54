package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBuiltBinaryCarriesEverything builds the server the way `make build`
// does (make's binary target, into a temp dir), then checks, outside the
// repository: the binary is static, `pixiu version` shows the injected
// values, and started from a directory without node_modules it serves the
// pinned pusher-js from inside itself.
func TestBuiltBinaryCarriesEverything(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "pixiu")
	mk := exec.Command("make", "-C", root, "--no-print-directory", "binary", "PIXIU_OUT="+bin, "VERSION=v0.0.0-shiptest")
	mk.Env = environWithout("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make binary: %v\n%s", err, out)
	}

	// Static: no program interpreter, no shared libraries.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a program interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	f.Close()

	// The injected build information.
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("pixiu version --json: %v", err)
	}
	var v struct {
		Version, Commit string
		Date            string `json:"build_date"`
		Injected        bool
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("pixiu version --json: %v: %s", err, out)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	built, err := time.Parse(time.RFC3339, v.Date)
	if v.Version != "v0.0.0-shiptest" || !v.Injected || !strings.HasPrefix(v.Commit, strings.TrimSpace(string(head))) ||
		err != nil || time.Since(built) > time.Hour || time.Since(built) < -time.Minute {
		t.Fatalf("pixiu version --json = %s, want the injected version, commit %s and a build date of now", out, head)
	}
	if line, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(line), "pixiu v0.0.0-shiptest (commit "+v.Commit) {
		t.Fatalf("pixiu version = %q (%v)", line, err)
	}

	// What the binary must carry: the pinned npm package when installed
	// (make binary copied it), else whatever an earlier build left in the
	// embed directory, else nothing (then the demo says it uses the CDN).
	want, lockVersion := pinnedPusherJS(t, root)

	dir := t.TempDir() // no node_modules here, nor beside the binary
	srv := startBinary(t, bin, dir)
	resp, err := http.Get(srv.url + "/demo/vendor/pusher.min.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want == nil {
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(srv.logs(), "pages load it from the CDN") {
			t.Fatalf("built without pusher-js: GET /demo/vendor/pusher.min.js %d; log:\n%s", resp.StatusCode, srv.logs())
		}
		return
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!bytes.Equal(body, want) || !bytes.Contains(body, []byte("Pusher")) {
		t.Fatalf("GET /demo/vendor/pusher.min.js from %s: %d %s, %d bytes; want the %d bytes of the pinned pusher-js",
			dir, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want))
	}
	if lockVersion != "" && !bytes.Contains(body, []byte(`"`+lockVersion+`"`)) {
		t.Fatalf("the served pusher-js is not version %s of package-lock.json", lockVersion)
	}
	if !strings.Contains(srv.logs(), "pusher-js: serving the copy built into the binary") {
		t.Fatalf("the log does not say pusher-js is built in:\n%s", srv.logs())
	}
	resp, err = http.Get(srv.url + "/demo/vendor/pusher-js.LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	licence, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(licence, []byte("Pusher")) {
		t.Fatalf("GET /demo/vendor/pusher-js.LICENSE: %d %q", resp.StatusCode, licence)
	}
}

// pinnedPusherJS returns the pusher-js bytes `make binary` embeds and the
// version package-lock.json pins ("" when node_modules is not installed).
func pinnedPusherJS(t *testing.T, root string) ([]byte, string) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(root, "node_modules", "pusher-js", "dist", "web", "pusher.min.js"))
	if err != nil {
		// Not installed: make warned and embedded what the directory holds.
		if js, err := os.ReadFile(filepath.Join(root, "internal", "demo", "pusherjs", "pusher.min.js")); err == nil {
			return js, ""
		}
		return nil, ""
	}
	raw, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	v := lock.Packages["node_modules/pusher-js"].Version
	if v == "" {
		t.Fatal("package-lock.json pins no pusher-js version")
	}
	return js, v
}

type binaryServer struct {
	url  string
	mu   sync.Mutex
	out  strings.Builder // guarded by mu
	done chan struct{}
}

func (s *binaryServer) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// startBinary runs `bin serve` on 127.0.0.1:0 with dir as working directory
// and store, without any PIXIU_* variables of the test's environment, and
// returns once it logs its address. It is stopped with SIGTERM at cleanup.
func startBinary(t *testing.T, bin, dir string) *binaryServer {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--host", "127.0.0.1", "--port", "0")
	cmd.Dir = dir
	cmd.Env = append(environWithout("PIXIU_"), "PIXIU_STORE_PATH="+filepath.Join(dir, "pixiu.db"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &binaryServer{done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if _, a, ok := strings.Cut(line, "msg=listening addr="); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		select {
		case <-s.done:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("pixiu serve exited before listening:\n%s", s.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("pixiu serve did not log its address:\n%s", s.logs())
	}
	return s
}

// environWithout returns the environment without variables starting with
// any of prefixes.
func environWithout(prefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}

// repoRoot returns the module root: the nearest directory above the test's
// working directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
