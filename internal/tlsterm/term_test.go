package tlsterm_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/tlsterm"
)

// echo terminates TLS on a loopback listener and echoes the plain stream
// back (the transport's part), upper-cased so the test sees it went through.
type echo struct {
	ln   net.Listener
	term *tlsterm.Terminator
	logs *pixiutest.SyncBuffer
}

func startEcho(t *testing.T, opts tlsterm.Options) *echo {
	t.Helper()
	e := &echo{logs: &pixiutest.SyncBuffer{}}
	opts.Log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Enroll = func(plain net.Conn, _ net.Addr, st *tls.ConnectionState) error {
		if st == nil || !st.HandshakeComplete {
			return errors.New("no TLS state")
		}
		go func() {
			defer plain.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := plain.Read(buf)
				if n > 0 {
					if _, err := plain.Write(bytes.ToUpper(buf[:n])); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		return nil
	}
	term, err := tlsterm.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.ln, e.term = ln, term
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go term.Serve(nc)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); _ = term.Close() })
	return e
}

func TestTerminatorCopiesBothWays(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, _ := ca.Leaf(t)
	e := startEcho(t, tlsterm.Options{CertFile: certFile, KeyFile: keyFile})
	tc, err := tls.Dial("tcp", e.ln.Addr().String(), ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", v)
	}
	// Small and large writes (bigger than a record and than the small buffer).
	for _, size := range []int{1, 100, 5000, 300 << 10} {
		msg := bytes.Repeat([]byte("abcdefgh"), size/8+1)[:size]
		go func() { _, _ = tc.Write(msg) }()
		got := make([]byte, size)
		_ = tc.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(tc, got); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, bytes.ToUpper(msg)) {
			t.Fatalf("size %d: echoed bytes differ", size)
		}
	}
	// The client leaving ends the plain side, which ends the connection.
	_ = tc.CloseWrite()
	_ = tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, tc); err != nil {
		t.Fatalf("after close_notify: %v, want EOF", err)
	}
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if n := e.term.Stats().Open.Load(); n != 0 {
			return errors.New("connection still open in the terminator")
		}
		return nil
	})
}

func TestTerminatorRefusesOldTLSAndPlain(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, _ := ca.Leaf(t)
	e := startEcho(t, tlsterm.Options{CertFile: certFile, KeyFile: keyFile})
	cfg := ca.ClientConfig()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if tc, err := tls.Dial("tcp", e.ln.Addr().String(), cfg); err == nil {
		tc.Close()
		t.Fatal("a TLS 1.1 handshake succeeded; want TLS 1.2 at least")
	}
	if n := e.term.Stats().Failed.Load(); n != 1 {
		t.Fatalf("failed handshakes = %d, want 1", n)
	}
}

// TestTerminatorHandshakeTimeout: a client that starts a handshake and
// stalls is closed after HandshakeTimeout; with MaxHandshakes in progress
// the next connection is closed at once.
func TestTerminatorHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, _ := ca.Leaf(t)
	e := startEcho(t, tlsterm.Options{CertFile: certFile, KeyFile: keyFile,
		HandshakeTimeout: 2 * time.Second, MaxHandshakes: 1})
	stalled, err := net.Dial("tcp", e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_, _ = stalled.Write([]byte{0x16, 0x03, 0x01, 0x02}) // a ClientHello's first bytes
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if e.term.Stats().HandshakeActive.Load() != 1 {
			return errors.New("handshake not started")
		}
		return nil
	})
	second, err := net.Dial("tcp", e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, second); err != nil {
		t.Fatalf("connection past MaxHandshakes: %v, want closed", err)
	}
	if n := e.term.Stats().Refused.Load(); n != 1 {
		t.Fatalf("refused = %d, want 1", n)
	}
	start := time.Now()
	_ = stalled.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.Copy(io.Discard, stalled)
	if err != nil {
		t.Fatalf("stalled handshake: %v, want closed by the server", err)
	}
	t.Logf("closed after %s", time.Since(start)) // not asserted: only that it closes
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if n := e.term.Stats().Failed.Load(); n != 1 {
			return errors.New("the timed-out handshake is not counted as failed")
		}
		return nil
	})
}

// TestCertificateReload: GetCertificate serves the new pair once the files
// change, keeps the previous pair when the new files do not load (logging
// why), and picks up a fixed pair afterwards.
func TestCertificateReload(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, first := ca.Leaf(t)
	e := startEcho(t, tlsterm.Options{CertFile: certFile, KeyFile: keyFile})
	serial := func() string {
		tc, err := tls.Dial("tcp", e.ln.Addr().String(), ca.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != first.SerialNumber.String() {
		t.Fatalf("serial %s, want %s", got, first.SerialNumber)
	}
	// A certificate without its key: not loaded, the first pair stays.
	c2, k2, second := ca.Leaf(t)
	copyFile(t, c2, certFile)
	time.Sleep(1100 * time.Millisecond) // past the reload check interval
	if got := serial(); got != first.SerialNumber.String() {
		t.Fatalf("after a mismatched pair: serial %s, want %s kept", got, first.SerialNumber)
	}
	if !strings.Contains(e.logs.String(), "serving the previous certificate") {
		t.Fatalf("the failed reload was not logged:\n%s", e.logs.String())
	}
	// The key arrives: the new pair is served.
	copyFile(t, k2, keyFile)
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if got := serial(); got != second.SerialNumber.String() {
			return errors.New("still serving " + got)
		}
		return nil
	})
}

func TestNewRefusesBadPair(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, _, _ := ca.Leaf(t)
	_, otherKey, _ := ca.Leaf(t)
	enroll := func(net.Conn, net.Addr, *tls.ConnectionState) error { return nil }
	if _, err := tlsterm.New(tlsterm.Options{CertFile: certFile, KeyFile: otherKey, Enroll: enroll}); err == nil ||
		!strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("mismatched pair: %v", err)
	}
	if _, err := tlsterm.New(tlsterm.Options{CertFile: certFile + ".missing", KeyFile: otherKey, Enroll: enroll}); err == nil {
		t.Fatal("missing file accepted")
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}
