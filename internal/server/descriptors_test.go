package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/server"
)

const fdChildEnv = "PIXIU_TEST_FD_CHILD"

// TestOutOfDescriptorsExits: when accept fails for want of descriptors the
// event engine stops for good (gnet treats EMFILE as fatal) and every socket
// is gone; Run must then return an error, so that the process exits and its
// supervisor restarts it, instead of staying up without a listener. The
// server runs in a child process that uses up its descriptors itself.
func TestOutOfDescriptorsExits(t *testing.T) {
	if mode := os.Getenv(fdChildEnv); mode != "" {
		fdChild(t, mode)
		return
	}
	t.Parallel()
	cmd, addr, out, stderr := startFDChild(t, "TestOutOfDescriptorsExits", "fill")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil { // its accept fails
		defer c.Close()
	}
	rest, _ := io.ReadAll(out)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(rest), "the listener stopped") {
		t.Fatalf("child: %v, stdout %q; want exit 3 after Run returned the listener's error; stderr:\n%s", err, rest, stderr.String())
	}
}

// TestDescriptorReserveKeepsServing: a client opening more connections than
// the process has descriptors gets those past the reserve closed at once,
// the engine keeps running, and once it lets go, clients are served again.
func TestDescriptorReserveKeepsServing(t *testing.T) {
	if mode := os.Getenv(fdChildEnv); mode != "" {
		fdChild(t, mode)
		return
	}
	t.Parallel()
	cmd, addr, _, stderr := startFDChild(t, "TestDescriptorReserveKeepsServing", "reserve")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// One upgrade at a time, each answered (101) or closed before the next:
	// the reserve is what is left for the connections a burst brings in
	// before their OnOpen runs; here it must not be needed.
	var held []net.Conn
	upgraded, closedAtOnce := 0, 0
	for range 300 { // the child has about 100 descriptors to spare
		c, status := upgrade(t, addr)
		held = append(held, c)
		switch {
		case strings.Contains(status, "101"):
			upgraded++
		case c != nil:
			closedAtOnce++
		default:
			t.Fatalf("after %d upgrades and %d refusals: %s", upgraded, closedAtOnce, status)
		}
	}
	for _, c := range held {
		if c != nil {
			_ = c.Close()
		}
	}
	if upgraded < 20 || closedAtOnce < 150 {
		t.Fatalf("%d of 300 connections upgraded, %d closed at once; want the ones up to the reserve served, the rest closed", upgraded, closedAtOnce)
	}
	select {
	case err := <-exited:
		t.Fatalf("the server stopped: %v; stderr:\n%s", err, stderr.String())
	case <-time.After(200 * time.Millisecond):
	}
	var status string
	for range 50 { // the server notices the closes
		status = upgradeStatus(t, addr)
		if strings.Contains(status, "101") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("upgrade after the flood: %q; stderr:\n%s", status, stderr.String())
}

// upgradeStatus sends a WebSocket upgrade and returns the status line.
func upgradeStatus(t *testing.T, addr string) string {
	c, status := upgrade(t, addr)
	if c != nil {
		_ = c.Close()
	}
	return status
}

// upgrade sends a WebSocket upgrade and returns the connection (nil if the
// dial failed) and the status line, or the read error when the server closed
// it without one.
func upgrade(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err.Error()
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return c, "closed: " + err.Error()
	}
	return c, line
}

// startFDChild runs test in a child process in mode (fdChild) and returns it
// once it printed its address, with its stdout after that line.
func startFDChild(t *testing.T, test, mode string) (*exec.Cmd, string, io.Reader, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	br := bufio.NewReader(out)
	for {
		line, err := br.ReadString('\n')
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR "); ok {
			return cmd, a, br, stderr
		}
		if err != nil {
			t.Fatalf("the child printed no address; stderr:\n%s", stderr.String())
		}
	}
}

// fdChild runs a server with 100 descriptors to spare and exits 3 when Run
// returns an error, 0 when Run is still serving after 20 s. In mode "fill"
// it then opens files until none is left, so that the next accept fails.
func fdChild(t *testing.T, mode string) {
	cfg := pixiutest.Config(t, nil)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 140) // the server's own files take about 40
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	if mode == "fill" {
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			defer f.Close()
		}
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
