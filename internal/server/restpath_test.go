package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// signedPublish returns a signed request head (without Content-Length) and body.
func signedPublish(channel, data string) (string, string) {
	body := fmt.Sprintf(`{"name":"e","channels":[%q],"data":%q}`, channel, data)
	q := signature.SignRequest("app-key", "app-secret", "POST", "/apps/app-id/events", nil, []byte(body), time.Now())
	return "POST /apps/app-id/events?" + q.Encode() + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", body
}

// TestRESTOnTheLoop drives the event loops' own REST path and its hand-overs
// to net/http over raw keep-alive connections: pipelining, Connection:
// close, Expect: 100-continue, chunked bodies and a non-REST request after
// REST ones.
func TestRESTOnTheLoop(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, nil)
	sub := pixiutest.Dial(t, s.Addr, "app-key")
	sub.Subscribe("loop", "", "", "")
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		return nc, bufio.NewReader(nc)
	}
	read := func(br *bufio.Reader, want int) *http.Response {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, want)
		}
		return resp
	}

	t.Run("pipelined then net/http", func(t *testing.T) {
		nc, br := dial()
		h1, b1 := signedPublish("loop", "1")
		h2, b2 := signedPublish("loop", "2")
		_, _ = nc.Write([]byte(h1 + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(b1), b1) +
			h2 + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(b2), b2) + "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"))
		read(br, 200)
		read(br, 200)
		read(br, 200) // /ready, served by net/http on the same connection
		if e := sub.Expect("e"); e.DataString() != "1" {
			t.Fatalf("first %+v", e)
		}
		if e := sub.Expect("e"); e.DataString() != "2" {
			t.Fatalf("second %+v", e)
		}
	})
	t.Run("bad signature answered on the loop", func(t *testing.T) {
		nc, br := dial()
		_, _ = nc.Write([]byte("POST /apps/app-id/events?auth_key=app-key HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
		read(br, 401)
	})
	t.Run("connection close", func(t *testing.T) {
		nc, br := dial()
		h, b := signedPublish("loop", "3")
		_, _ = nc.Write([]byte(h + fmt.Sprintf("Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(b), b)))
		read(br, 200)
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("connection not closed: %v", err)
		}
		sub.Expect("e")
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		nc, br := dial()
		h, b := signedPublish("loop", "4")
		_, _ = nc.Write([]byte(h + fmt.Sprintf("Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(b))))
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "100") {
			t.Fatalf("want 100 Continue, got %q %v", line, err)
		}
		_, _ = br.ReadString('\n') // blank line
		_, _ = nc.Write([]byte(b))
		read(br, 200)
		sub.Expect("e")
	})
	t.Run("chunked", func(t *testing.T) {
		nc, br := dial()
		h, b := signedPublish("loop", "5")
		_, _ = nc.Write([]byte(h + fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(b), b)))
		read(br, 200)
		sub.Expect("e")
	})
}
