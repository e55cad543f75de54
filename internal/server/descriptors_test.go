package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/server"
)

const fdChildEnv = "PIXIU_TEST_FD_CHILD"

// TestOutOfDescriptorsExits: when accept fails for want of descriptors the
// event engine stops for good (gnet treats EMFILE as fatal) and every socket
// is gone; Run must then return an error, so that the process exits and its
// supervisor restarts it, instead of staying up without a listener. The
// server runs in a child process whose descriptor limit is lowered.
func TestOutOfDescriptorsExits(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdChild(t)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfDescriptorsExits$")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := bufio.NewScanner(out)
	var addr string
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("the child printed no address; stderr:\n%s", stderr.String())
	}
	var held []net.Conn // more connections than the child has descriptors
	for range 200 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(rest.String(), "the listener stopped") {
		t.Fatalf("child: %v, stdout %q; want exit 3 after Run returned the listener's error; stderr:\n%s", err, rest.String(), stderr.String())
	}
}

// fdChild runs a server with 40 descriptors to spare and exits 3 when Run
// returns an error, 0 when Run is still serving after 20 s.
func fdChild(t *testing.T) {
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", 0
	f := false
	cfg.Demo = &f
	cfg.Apps = []apps.App{config.DefaultApp()}
	cfg.Console.Password = "pixiutest-console-password"
	cfg.Store.Path = filepath.Join(t.TempDir(), "pixiu.db")
	cfg.ApplyDefaults()
	cfg.Port = 0
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 40)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR " + srv.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Run(ctx); err != nil {
		fmt.Println("RUN", err)
		os.Exit(3)
	}
	os.Exit(0)
}
