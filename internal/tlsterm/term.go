// Package tlsterm terminates TLS for the port: it holds the certificates
// (files reloaded when they change, or ACME), runs each TLS handshake with a
// deadline and a cap on how many run at once, and hands the decrypted stream
// back to the transport as a plain socket.
//
// The design (docs/ARCHITECTURE.md "TLS"): gnet has no TLS, so a connection
// whose first byte opens a TLS handshake leaves the event loop (a duplicate
// of its socket, like a connection handed to net/http) for Serve. After the
// handshake Serve creates a socketpair, enrolls one end into the event
// loops as a new plain connection (which then takes exactly the path of a
// plain one: WebSocket on the loop, REST on the loop, or net/http), and
// copies bytes between the TLS connection and the other end with two
// goroutines. That costs, per TLS connection, two goroutines, two more file
// descriptors and a small read buffer, plus one copy each way through the
// kernel; docs/PERFORMANCE.md has the figures.
package tlsterm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/sys/unix"
)

// Options configure a Terminator. Zero values mean the documented default.
type Options struct {
	// CertFile and KeyFile are the PEM certificate chain and key, reloaded
	// when they change. Either these or ACME.
	CertFile, KeyFile string
	// ACME obtains certificates automatically when its Domains are set.
	ACME ACMEOptions
	// Enroll hands the plain end of a terminated connection to the
	// transport, with the client's address and the TLS state (required).
	Enroll func(plain net.Conn, remote net.Addr, state *tls.ConnectionState) error
	// HandshakeTimeout bounds a TLS handshake from the connection's hand-over
	// (default 10s): a client that opens TCP and never finishes is closed.
	HandshakeTimeout time.Duration
	// MaxHandshakes caps the handshakes in progress (default 1024): past
	// it a new TLS connection is closed at once (and counted).
	MaxHandshakes int
	// WriteTimeout bounds one write to a client (default 60s): a client that
	// reads nothing for that long is closed, so its goroutines and
	// descriptors are released even after the transport closed its end.
	WriteTimeout time.Duration
	Log          *slog.Logger // default: discard
}

// Terminator terminates TLS connections for the transport. Its methods are
// safe for concurrent use.
type Terminator struct {
	opts   Options
	log    *slog.Logger
	config *tls.Config
	files  *certFiles // nil with ACME
	acme   *acmeManager

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	slots  chan struct{} // one per handshake in progress

	stats Stats
}

// Stats count what the Terminator did; read them with Snapshot.
type Stats struct {
	Handshakes      atomic.Int64 // completed handshakes
	Failed          atomic.Int64 // handshakes that failed or timed out
	Refused         atomic.Int64 // connections closed because MaxHandshakes were in progress
	Open            atomic.Int64 // terminated connections open now
	HandshakeActive atomic.Int64 // handshakes in progress now
}

// New loads the certificate (or prepares ACME) and returns a Terminator;
// an unreadable or invalid pair is an error.
func New(opts Options) (*Terminator, error) {
	if opts.Enroll == nil {
		return nil, errors.New("tlsterm: Enroll is required")
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.MaxHandshakes <= 0 {
		opts.MaxHandshakes = 1024
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	t := &Terminator{opts: opts, log: opts.Log.With("component", "tls"), slots: make(chan struct{}, opts.MaxHandshakes)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.config = &tls.Config{
		// Go's defaults otherwise: its cipher suites (AEAD, forward secret)
		// and curves; TLS 1.3 preferred.
		MinVersion: tls.VersionTLS12,
		// No h2: WebSocket and the loops' REST path speak HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}
	switch {
	case len(opts.ACME.Domains) > 0:
		m, err := newACME(opts.ACME, t.log)
		if err != nil {
			return nil, err
		}
		t.acme = m
		t.config.GetCertificate = m.getCertificate
		t.config.NextProtos = append(t.config.NextProtos, acme.ALPNProto)
	case opts.CertFile != "":
		f, err := newCertFiles(opts.CertFile, opts.KeyFile, t.log)
		if err != nil {
			return nil, err
		}
		t.files = f
		t.config.GetCertificate = f.GetCertificate
	default:
		return nil, errors.New("tlsterm: no certificate: set CertFile and KeyFile, or ACME domains")
	}
	return t, nil
}

// Start begins obtaining ACME certificates in the background (call it once
// the port listens: the CA connects to it); nothing to do for files.
func (t *Terminator) Start() {
	if t.acme != nil {
		t.acme.prefetch(t.opts.ACME.Domains, t.log)
	}
}

// Stats returns the Terminator's counters.
func (t *Terminator) Stats() *Stats { return &t.stats }

// Close stops serving: handshakes in progress are aborted and new
// connections are closed. Terminated connections end when the transport
// closes their plain ends.
func (t *Terminator) Close() error {
	t.cancel()
	return nil
}

// Serve terminates one TLS connection: the handshake, then two goroutines
// copy between raw and a plain socket enrolled into the transport until
// either side ends. It blocks for the handshake only; call it on its own
// goroutine.
func (t *Terminator) Serve(raw net.Conn) {
	select {
	case t.slots <- struct{}{}:
	default:
		t.stats.Refused.Add(1)
		t.log.Warn("tls: too many handshakes in progress; connection closed", "max", t.opts.MaxHandshakes)
		_ = raw.Close()
		return
	}
	t.stats.HandshakeActive.Add(1)
	tc, err := t.handshake(raw)
	t.stats.HandshakeActive.Add(-1)
	<-t.slots
	if err != nil {
		t.stats.Failed.Add(1)
		t.log.Debug("tls: handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	t.stats.Handshakes.Add(1)
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == acme.ALPNProto {
		_ = tc.Close() // a TLS-ALPN-01 challenge: the handshake was all
		return
	}
	mine, theirs, err := SocketPair()
	if err == nil {
		err = t.opts.Enroll(theirs, raw.RemoteAddr(), &state)
		if err != nil {
			_ = mine.Close()
		}
	}
	if err != nil {
		t.log.Warn("tls: hand the connection to the event loops", "err", err)
		_ = tc.Close()
		return
	}
	t.stats.Open.Add(1)
	// Two new goroutines rather than this one: the handshake grew this
	// goroutine's stack (the key exchange and signature run deep), and a
	// fresh goroutine starts small, so an idle connection holds two small
	// stacks from the start instead of waiting for GCs to shrink one.
	go t.fromClient(tc, mine)
	go func() {
		defer t.stats.Open.Add(-1)
		t.toClient(tc, mine)
	}()
}

// handshake runs the server handshake within HandshakeTimeout (and aborts
// it on Close).
func (t *Terminator) handshake(raw net.Conn) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.HandshakeTimeout)
	defer cancel()
	// The deadline also bounds a client that dribbles its handshake.
	_ = raw.SetDeadline(time.Now().Add(t.opts.HandshakeTimeout))
	tc := tls.Server(raw, t.config)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return tc, nil
}

// smallRead is the buffer the client-to-server copy keeps while it waits
// (clients of an idle connection send little); a read that fills it is
// followed by reads into a pooled big buffer until one comes back short.
const (
	smallRead = 2 << 10
	bigRead   = 16 << 10 // one TLS record's plaintext at most
)

var bigBufs = sync.Pool{New: func() any { b := make([]byte, bigRead); return &b }}

// fromClient copies decrypted bytes from the client to the transport. When
// the client is done (EOF, close_notify, error) it shuts the plain end's
// write side, so the transport sees the client leave.
func (t *Terminator) fromClient(tc *tls.Conn, plain *net.UnixConn) {
	defer func() { _ = plain.CloseWrite() }()
	small := make([]byte, smallRead)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			bigBufs.Put(big)
		}
	}()
	for {
		n, err := tc.Read(buf)
		if n > 0 {
			if _, werr := plain.Write(buf[:n]); werr != nil {
				return // the transport closed its end; toClient ends the TLS side
			}
		}
		if err != nil {
			return
		}
		switch {
		case n == len(buf) && big == nil:
			big = bigBufs.Get().(*[]byte)
			buf = *big
		case n < len(buf) && big != nil:
			bigBufs.Put(big)
			big, buf = nil, small
		}
	}
}

// toClient copies what the transport writes to the client, encrypted. It
// waits for the plain end to be readable without holding a buffer (an idle
// connection keeps none), and when the transport closes its end it sends
// close_notify and closes both.
func (t *Terminator) toClient(tc *tls.Conn, plain *net.UnixConn) {
	defer func() {
		_ = tc.Close() // close_notify (bounded by crypto/tls), then the socket
		_ = plain.Close()
	}()
	rc, err := plain.SyscallConn()
	if err != nil {
		return
	}
	for {
		var (
			buf  *[]byte
			n    int
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			buf = bigBufs.Get().(*[]byte)
			n, rerr = unix.Read(int(fd), *buf)
			if rerr == unix.EAGAIN {
				bigBufs.Put(buf)
				buf = nil
				return false
			}
			return true
		})
		if err != nil || rerr != nil || n <= 0 { // closed, error, or EOF
			if buf != nil {
				bigBufs.Put(buf)
			}
			return
		}
		_ = tc.SetWriteDeadline(time.Now().Add(t.opts.WriteTimeout))
		_, werr := tc.Write((*buf)[:n])
		bigBufs.Put(buf)
		if werr != nil {
			return
		}
	}
}

// SocketPair returns the two ends of a connected Unix stream socket pair.
func SocketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsterm: socketpair: %w", err)
	}
	a, err := fileConn(fds[0])
	if err != nil {
		_ = unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1])
	if err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fileConn turns fd into a *net.UnixConn (net.FileConn takes a duplicate;
// fd is closed here).
func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("tlsterm: socketpair: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		_ = nc.Close()
		return nil, fmt.Errorf("tlsterm: socketpair: %T", nc)
	}
	return uc, nil
}
