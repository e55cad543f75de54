package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): with a bound
// source address, defer choosing the port to connect(2) so ports are shared
// across destinations by 4-tuple instead of being exhausted by bind(2).
const ipBindAddressNoPort = 24

// sourceSpread is how many loopback source addresses (127.0.0.1 ..
// 127.0.0.250) connections are spread over, so 20,000 sockets plus TIME_WAIT
// leftovers never exhaust one address's ephemeral ports.
const sourceSpread = 250

// dialer opens WebSocket connections to the target with spread source
// addresses. Safe for concurrent use.
type dialer struct {
	target  Target
	wsURL   *url.URL
	timeout time.Duration
	rcvBuf  int           // SO_RCVBUF set before connect when > 0 (slow consumers)
	next    atomic.Uint64 // source address rotation
}

func newDialer(t Target, key string, timeout time.Duration) *dialer {
	scheme := "ws"
	if t.TLS != nil {
		scheme = "wss"
	}
	u := &url.URL{
		Scheme:   scheme,
		Host:     t.Addr(),
		Path:     "/app/" + key,
		RawQuery: "protocol=7&client=pixiu-bench&version=1.0&flash=false",
	}
	return &dialer{target: t, wsURL: u, timeout: timeout}
}

func (d *dialer) dialTCP(ctx context.Context) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	v4 := d.target.IsV4()
	if v4 {
		i := d.next.Add(1) - 1
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%sourceSpread))}
	}
	if v4 || d.rcvBuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if v4 {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
				}
				if serr == nil && d.rcvBuf > 0 {
					// Before connect(2), so the advertised window is small too.
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.rcvBuf)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := nd.DialContext(ctx, "tcp", d.target.Addr())
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if d.target.TLS != nil {
		return tlsHandshake(ctx, c, d.target.TLS, d.timeout)
	}
	return c, nil
}

// tlsHandshake runs the client side of a TLS handshake on c.
func tlsHandshake(ctx context.Context, c net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}

// tlsRelay returns a plain socket standing for tc: gnet can enroll only
// kernel sockets, so two goroutines copy between tc and one end of a
// socketpair whose other end is returned (the server's tlsterm does the
// same; the tool's side costs the tool, not the server).
func tlsRelay(tc net.Conn) (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "relay")
		conns[i], err = net.FileConn(f)
		_ = f.Close()
		if err != nil {
			for _, c := range conns[:i] {
				_ = c.Close()
			}
			return nil, fmt.Errorf("socketpair: %w", err)
		}
	}
	mine := conns[0].(*net.UnixConn)
	go func() {
		_, _ = io.Copy(mine, tc)
		_ = mine.CloseWrite()
	}()
	go func() {
		_, _ = io.Copy(tc, mine)
		_ = tc.Close()
		_ = mine.Close()
	}()
	return conns[1], nil
}

// session is one WebSocket connection during its synchronous phase. A session
// belongs to one goroutine; its buffers are reused across connections.
type session struct {
	d    *dialer
	conn net.Conn
	br   *bufio.Reader // from the upgrade (pooled by ws), or nil
	rd   *bufio.Reader // reader in use: br or own
	own  *bufio.Reader
	buf  []byte // payload of the last frame read
	wbuf []byte
}

func newSession(d *dialer) *session {
	return &session{d: d, own: bufio.NewReaderSize(nil, 2048)}
}

// open dials, upgrades and reads pusher:connection_established (protocol.md
// §1.2: it must be the first frame). On error the connection is closed.
func (s *session) open(ctx context.Context) error {
	conn, err := s.d.dialTCP(ctx)
	if err != nil {
		return err
	}
	s.conn = conn
	_ = conn.SetDeadline(time.Now().Add(s.d.timeout))
	br, _, err := ws.Dialer{}.Upgrade(conn, s.d.wsURL)
	if err != nil {
		s.abort()
		return fmt.Errorf("upgrade: %w", err)
	}
	s.br = br
	if br != nil {
		s.rd = br
	} else {
		s.own.Reset(conn)
		s.rd = s.own
	}
	if err := s.expect(evEstablished); err != nil {
		s.abort()
		return err
	}
	return nil
}

// expect reads frames until a text message arrives and checks its event.
// It answers pings. A pusher:error or another event is an error.
func (s *session) expect(event []byte) error {
	for {
		op, err := s.readFrame()
		if err != nil {
			return err
		}
		switch op {
		case opPing:
			if err := s.write(opPong, s.buf); err != nil {
				return err
			}
			continue
		case opPong:
			continue
		case opClose:
			return fmt.Errorf("server closed while waiting for %s: %s", event, closeReason(s.buf))
		case opText:
		default:
			return fmt.Errorf("unexpected frame opcode %d while waiting for %s", op, event)
		}
		name := jsonField(s.buf, "event")
		switch {
		case string(name) == string(event):
			return nil
		case string(name) == string(evPing):
			if err := s.write(opText, pongMessage); err != nil {
				return err
			}
		default:
			return fmt.Errorf("waiting for %s, got %.200s", event, s.buf)
		}
	}
}

// readFrame reads one whole message (reassembling fragments) into s.buf.
func (s *session) readFrame() (byte, error) {
	s.buf = s.buf[:0]
	var first byte = 0xFF
	for {
		h, err := ws.ReadHeader(s.rd)
		if err != nil {
			return 0, fmt.Errorf("read frame: %w", err)
		}
		if h.Length > maxFrame {
			return 0, errBadFrame
		}
		start := len(s.buf)
		s.buf = slices.Grow(s.buf, int(h.Length))[:start+int(h.Length)]
		if _, err := io.ReadFull(s.rd, s.buf[start:]); err != nil {
			return 0, fmt.Errorf("read frame: %w", err)
		}
		if h.Masked {
			ws.Cipher(s.buf[start:], h.Mask, 0)
		}
		if h.OpCode.IsControl() {
			return byte(h.OpCode), nil
		}
		if first == 0xFF {
			first = byte(h.OpCode)
		}
		if h.Fin {
			return first, nil
		}
	}
}

func (s *session) write(op byte, payload []byte) error {
	s.wbuf = appendClientFrame(s.wbuf[:0], op, payload)
	if _, err := s.conn.Write(s.wbuf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// leftover returns bytes already read from the socket but not yet consumed.
func (s *session) leftover() []byte {
	n := s.rd.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := s.rd.Peek(n)
	return append([]byte(nil), b...)
}

// release forgets the connection (ownership moved elsewhere or closed).
func (s *session) release() {
	if s.br != nil {
		ws.PutReader(s.br)
		s.br = nil
	}
	s.own.Reset(nil)
	s.rd, s.conn = nil, nil
}

func (s *session) abort() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.release()
}

// closeGracefully sends a 1000 close frame, waits (bounded by the deadline)
// for the server's close frame or EOF, then closes the socket.
func (s *session) closeGracefully() error {
	err := s.write(opClose, []byte{0x03, 0xE8})
	for err == nil {
		var op byte
		if op, err = s.readFrame(); op == opClose {
			break
		}
	}
	cerr := s.conn.Close()
	s.release()
	if err != nil && !isEOF(err) {
		return err
	}
	return cerr
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func closeReason(p []byte) string {
	if len(p) < 2 {
		return "no status"
	}
	return fmt.Sprintf("code %d %q", int(p[0])<<8|int(p[1]), p[2:])
}
