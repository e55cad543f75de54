package server

import (
	"crypto/tls"
	"net"

	"github.com/pixiu-io/pixiu/internal/tlsterm"
	"github.com/pixiu-io/pixiu/internal/wsconn"
)

// serverTLS is the port's TLS terminator, nil when the port is plain.
type serverTLS struct{ *tlsterm.Terminator }

// newTLS builds the terminator when tls.* configures a certificate or ACME.
// Connections it terminates come back to the transport as plain sockets
// (wsconn.EnrollPlain), so every path (WebSocket, REST, console, demo)
// serves them unchanged.
func (s *Server) newTLS() (*serverTLS, error) {
	c := s.cfg.TLS
	if !c.Enabled() {
		return nil, nil
	}
	a := c.ACME
	t, err := tlsterm.New(tlsterm.Options{
		CertFile: c.CertFile, KeyFile: c.KeyFile,
		ACME: tlsterm.ACMEOptions{Domains: a.Domains, Email: a.Email, CacheDir: a.CacheDir,
			DirectoryURL: a.DirectoryURL, CAFile: a.CAFile},
		Enroll: func(nc net.Conn, remote net.Addr, st *tls.ConnectionState) error {
			return s.transport.EnrollPlain(nc, &wsconn.Peer{Addr: remote, TLS: st})
		},
		Log: s.log,
	})
	if err != nil {
		return nil, err
	}
	s.tls = t
	s.closers = append(s.closers, t.Close)
	return &serverTLS{t}, nil
}

// serve is wsconn.Options.TLS: nil for a plain port.
func (t *serverTLS) serve() func(net.Conn) {
	if t == nil {
		return nil
	}
	return t.Serve
}

// start begins ACME issuance once the port listens.
func (t *serverTLS) start() {
	if t != nil {
		t.Start()
	}
}

// dialSelf connects to this server's own port in-process, as a plain
// connection that skips TLS (the demo publishing to the REST API): a
// socketpair whose other end is enrolled like a terminated connection.
func (s *Server) dialSelf() (net.Conn, error) {
	mine, theirs, err := tlsterm.SocketPair()
	if err != nil {
		return nil, err
	}
	if err := s.transport.EnrollPlain(theirs, &wsconn.Peer{}); err != nil {
		_ = mine.Close()
		return nil, err
	}
	return mine, nil
}
