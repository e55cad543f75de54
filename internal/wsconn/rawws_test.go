package wsconn

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/cluster"
	"github.com/pixiu-io/pixiu/internal/cluster/memory"
	"github.com/pixiu-io/pixiu/internal/hub"
)

// startTransport runs a Transport with one app (key "app-key") on
// 127.0.0.1:0 and returns its address; it stops when the test ends.
func startTransport(t *testing.T, mutate func(*Options)) (*Transport, string) {
	t.Helper()
	h, err := hub.New(hub.Options{}, func(hd cluster.Handler) (cluster.Engine, error) { return memory.New(hd), nil })
	if err != nil {
		t.Fatal(err)
	}
	reg := apps.NewRegistry([]*apps.App{{ID: "app-id", Key: "app-key", Secret: "app-secret", Settings: apps.Defaults()}})
	opts := Options{Hub: h, Apps: reg, EventLoops: 2}
	if mutate != nil {
		mutate(&opts)
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tr.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = tr.Close(); _ = h.Engine().Close() })
	return tr, ln.Addr().String()
}

// rawWS is a WebSocket client that writes hand-made frames and reads the
// server's frames one by one, close frames included.
type rawWS struct {
	t        *testing.T
	nc       net.Conn
	br       *bufio.Reader
	socketID string
}

// dialRaw upgrades a connection to /app/app-key and reads
// pusher:connection_established.
func dialRaw(t *testing.T, addr string) *rawWS {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	w := &rawWS{t: t, nc: nc, br: bufio.NewReader(nc)}
	_, err = nc.Write([]byte("GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	var est struct {
		SocketID string `json:"socket_id"`
	}
	var data string
	if err := json.Unmarshal([]byte(w.expectEvent("pusher:connection_established")), &data); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(data), &est); err != nil || est.SocketID == "" {
		t.Fatalf("connection_established %q: %v", data, err)
	}
	w.socketID = est.SocketID
	return w
}

// frame returns a masked client frame; b0 is the first header byte (FIN,
// RSV and opcode bits).
func frame(b0 byte, payload []byte) []byte {
	return frameMask(b0, payload, true)
}

func frameMask(b0 byte, payload []byte, masked bool) []byte {
	out := []byte{b0}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, m|byte(n))
	case n <= 0xFFFF:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key[:]...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

// Header bytes: FIN and opcodes.
const (
	fin     = 0x80
	opCont  = 0x0
	opBin   = 0x2
	opTextF = fin | opText
)

func (w *rawWS) write(frames ...[]byte) {
	w.t.Helper()
	for _, f := range frames {
		if _, err := w.nc.Write(f); err != nil {
			w.t.Fatalf("write: %v", err)
		}
	}
}

// readFrame reads one server frame (unmasked).
func (w *rawWS) readFrame() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, payload); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented server frame")
	}
	return h[0] & 0x0f, payload, nil
}

// event reads frames until a text frame and returns its event name and data.
func (w *rawWS) event() (name string, data string) {
	w.t.Helper()
	for {
		op, p, err := w.readFrame()
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		switch op {
		case opText:
			var e struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(p, &e); err != nil {
				w.t.Fatalf("bad text frame %q", p)
			}
			return e.Event, string(e.Data)
		case opClose:
			w.t.Fatalf("unexpected close frame %q", p)
		}
	}
}

// expectEvent reads text frames until one named name.
func (w *rawWS) expectEvent(name string) string {
	w.t.Helper()
	for {
		if e, d := w.event(); e == name {
			return d
		}
	}
}

// alive shows the connection still serves messages: pusher:ping → pusher:pong.
func (w *rawWS) alive() {
	w.t.Helper()
	w.write(frame(opTextF, []byte(`{"event":"pusher:ping","data":{}}`)))
	w.expectEvent("pusher:pong")
}

// expectClose reads until the server's close frame, checks its code (0 for
// an empty payload), then checks the server closes TCP (EOF, not a reset).
// It returns the text frames' events seen before the close.
func (w *rawWS) expectClose(code int) []string {
	w.t.Helper()
	var events []string
	for {
		op, p, err := w.readFrame()
		if err != nil {
			w.t.Fatalf("no close frame (want %d), events %v: %v", code, events, err)
		}
		switch op {
		case opText:
			var e struct{ Event string }
			_ = json.Unmarshal(p, &e)
			events = append(events, e.Event)
			continue
		case opPong:
			events = append(events, "pong-frame")
			continue
		case opClose:
		default:
			w.t.Fatalf("frame opcode %d before the close", op)
		}
		got := 0
		if len(p) >= 2 {
			got = int(binary.BigEndian.Uint16(p))
		}
		if (code == 0 && len(p) != 0) || (code != 0 && got != code) {
			w.t.Fatalf("close code %d (payload %q), want %d; events before: %v", got, p, code, events)
		}
		break
	}
	w.expectEOF()
	return events
}

// expectEOF reads until the server closes TCP; extra frames are an error.
func (w *rawWS) expectEOF() {
	w.t.Helper()
	var b [1]byte
	n, err := w.br.Read(b[:])
	if n != 0 || err != io.EOF {
		w.t.Fatalf("after the close frame: %d bytes, %v (want EOF)", n, err)
	}
}
