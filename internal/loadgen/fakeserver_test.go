package loadgen

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// fakeServer is a throwaway Pusher-ish server for testing the tool without
// Pixiu: it sends connection_established, answers public subscribes with
// subscription_succeeded and broadcasts signed REST events. One goroutine per
// connection is fine at test sizes.
type fakeServer struct {
	t                  *testing.T
	key, secret, appID string
	addr               string

	// Keep-alive behaviour, set before the first connection.
	activity   int           // activity_timeout sent in connection_established; default 120
	closeQuiet time.Duration // like soketi: close with 4201 a connection that sent nothing this long (0: never)
	pingAfter  time.Duration // send pusher:ping and a WebSocket ping this long after a subscription (0: never)

	mu         sync.Mutex
	channels   map[string]map[*fakeConn]bool // guarded by mu
	nextID     atomic.Int64
	publishs   atomic.Int64
	pingEvents atomic.Int64 // pusher:ping received
	pongEvents atomic.Int64 // pusher:pong received
	pongFrames atomic.Int64 // WebSocket pong frames received
	quietClose atomic.Int64 // connections closed with 4201
}

type fakeConn struct {
	mu   sync.Mutex // serialises writes
	conn net.Conn
}

func (c *fakeConn) send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wsutil.WriteServerText(c.conn, msg)
}

func startFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, key: "app-key", secret: "app-secret", appID: "app-id",
		channels: map[string]map[*fakeConn]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", s.serveWS)
	mux.HandleFunc("POST /apps/{app_id}/events", s.serveEvents)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

func (s *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") != s.key {
		http.Error(w, "unknown key", http.StatusNotFound)
		return
	}
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	c := &fakeConn{conn: conn}
	id := s.nextID.Add(1)
	subs := map[string]bool{}
	defer func() {
		s.mu.Lock()
		for ch := range subs {
			delete(s.channels[ch], c)
		}
		s.mu.Unlock()
		_ = conn.Close()
	}()
	data := fmt.Sprintf(`{"socket_id":"%d.%d","activity_timeout":%d}`, id, id, cmp.Or(s.activity, 120))
	if c.send([]byte(`{"event":"pusher:connection_established","data":`+quoteJSON(data)+`}`)) != nil {
		return
	}
	for {
		if s.closeQuiet > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(s.closeQuiet))
		}
		msg, op, err := s.readClient(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.quietClose.Add(1)
			c.mu.Lock()
			_ = wsutil.WriteServerMessage(conn, ws.OpClose, ws.NewCloseFrameBody(4201, "Pong reply not received"))
			c.mu.Unlock()
			return
		}
		if err != nil {
			return // includes the close frame, which wsutil answers
		}
		if op != ws.OpText {
			continue
		}
		var m struct {
			Event string `json:"event"`
			Data  struct {
				Channel string `json:"channel"`
			} `json:"data"`
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		switch m.Event {
		case "pusher:ping":
			s.pingEvents.Add(1)
			if c.send([]byte(`{"event":"pusher:pong","data":"{}"}`)) != nil {
				return
			}
			continue
		case "pusher:pong":
			s.pongEvents.Add(1)
			continue
		case "pusher:subscribe":
		default:
			continue
		}
		s.mu.Lock()
		if s.channels[m.Data.Channel] == nil {
			s.channels[m.Data.Channel] = map[*fakeConn]bool{}
		}
		s.channels[m.Data.Channel][c] = true
		subs[m.Data.Channel] = true
		s.mu.Unlock()
		ok := `{"event":"pusher_internal:subscription_succeeded","channel":` + quoteJSON(m.Data.Channel) + `,"data":"{}"}`
		if c.send([]byte(ok)) != nil {
			return
		}
		if s.pingAfter > 0 {
			time.AfterFunc(s.pingAfter, func() {
				_ = c.send([]byte(`{"event":"pusher:ping","data":"{}"}`))
				c.mu.Lock()
				_ = wsutil.WriteServerMessage(conn, ws.OpPing, []byte("fake"))
				c.mu.Unlock()
			})
		}
	}
}

// readClient reads one client data message, answering pings and counting
// pong frames.
func (s *fakeServer) readClient(conn net.Conn) ([]byte, ws.OpCode, error) {
	control := wsutil.ControlFrameHandler(conn, ws.StateServerSide)
	rd := &wsutil.Reader{Source: conn, State: ws.StateServerSide, CheckUTF8: true,
		OnIntermediate: control}
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return nil, 0, err
		}
		if h.OpCode.IsControl() {
			if h.OpCode == ws.OpPong {
				s.pongFrames.Add(1)
			}
			if err := control(h, rd); err != nil {
				return nil, 0, err
			}
			continue
		}
		if h.OpCode&(ws.OpText|ws.OpBinary) == 0 {
			if err := rd.Discard(); err != nil {
				return nil, 0, err
			}
			continue
		}
		b, err := io.ReadAll(rd)
		return b, h.OpCode, err
	}
}

func (s *fakeServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if r.PathValue("app_id") != s.appID {
		http.Error(w, "unknown app", http.StatusNotFound)
		return
	}
	if err := signature.VerifyRequest(s.key, s.secret, r.Method, r.URL.Path, r.URL.Query(), body, time.Now(), 600*time.Second); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev struct {
		Name     string   `json:"name"`
		Channels []string `json:"channels"`
		Data     string   `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.publishs.Add(1)
	for _, ch := range ev.Channels {
		msg := []byte(`{"event":` + quoteJSON(ev.Name) + `,"channel":` + quoteJSON(ch) + `,"data":` + strconv.Quote(ev.Data) + `}`)
		s.mu.Lock()
		conns := make([]*fakeConn, 0, len(s.channels[ch]))
		for c := range s.channels[ch] {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.send(msg)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}
