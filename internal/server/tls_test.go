package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// startTLS starts a server whose port serves TLS with a leaf of a new CA.
func startTLS(t *testing.T, mutate func(*config.Config)) (*pixiutest.Server, *pixiutest.CA, string, string) {
	t.Helper()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, _ := ca.Leaf(t)
	s := pixiutest.Start(t, func(c *config.Config) {
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
		if mutate != nil {
			mutate(c)
		}
	})
	return s, ca, certFile, keyFile
}

// TestTLSServesEveryPath: over TLS on the one port, a WebSocket (wss://)
// gets an event a signed REST call (https://) published; REST answers from
// the loop and from net/http (a chunked body); the console signs in with a
// Secure cookie; a late upgrade on a keep-alive connection works.
func TestTLSServesEveryPath(t *testing.T) {
	t.Parallel()
	s, ca, _, _ := startTLS(t, nil)
	c := pixiutest.DialTLS(t, s.Addr, s.App.Key, ca.ClientConfig())
	c.Subscribe("tls-channel", "", "", "")
	rest := s.REST()
	rest.HTTP = ca.HTTPClient()
	rest.Trigger(t, []string{"tls-channel"}, "hello", `{"over":"tls"}`)
	if e := c.Expect("hello"); e.DataString() != `{"over":"tls"}` {
		t.Fatalf("event data = %s", e.Data)
	}
	if st, body := rest.Do(t, "GET", "/apps/"+s.App.ID+"/channels", "", nil); st != 200 || !strings.Contains(body, "tls-channel") {
		t.Fatalf("GET channels over TLS: %d %s", st, body)
	}

	// A chunked body goes to net/http (the loops frame only Content-Length).
	hc := ca.HTTPClient()
	req, _ := http.NewRequest("POST", "https://"+s.Addr+"/apps/"+s.App.ID+"/events", io.MultiReader(strings.NewReader("{}")))
	req.ContentLength = -1
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized { // unsigned: refused by the REST API through net/http
		t.Fatalf("unsigned chunked POST over TLS: %d, want 401", resp.StatusCode)
	}

	// The console over TLS: the session cookie is Secure (r.TLS is set).
	jar, _ := cookiejar.New(nil)
	hc.Jar = jar
	resp, err = hc.Post("https://"+s.Addr+"/console/api/login", "application/json",
		strings.NewReader(`{"password":"pixiutest-console-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("console sign-in over TLS: %d", resp.StatusCode)
	}
	secure := false
	for _, ck := range resp.Cookies() {
		secure = secure || ck.Secure
	}
	if !secure {
		t.Fatalf("console cookies over TLS are not Secure: %v", resp.Header.Values("Set-Cookie"))
	}

	// A late upgrade: a REST call, then a WebSocket upgrade on the same
	// TLS connection (net/http hijacks it and enrolls it in a loop).
	tc, err := tls.Dial("tcp", s.Addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	br := bufio.NewReader(tc)
	if _, err := io.WriteString(tc, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health over TLS: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := io.WriteString(tc, "GET /app/"+s.App.Key+"?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("late upgrade over TLS: %v %v", resp, err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	frame := make([]byte, 2)
	if _, err := io.ReadFull(br, frame); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, frame[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(payload, []byte("pusher:connection_established")) {
		t.Fatalf("first frame after a late upgrade over TLS: %q", payload)
	}
}

// TestTLSRefusesPlainHTTP: the TLS port answers a plain request 400 (as
// Go's net/http does) and never serves it.
func TestTLSRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	s, _, _, _ := startTLS(t, nil)
	resp, err := http.Get("http://" + s.Addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "client sent an HTTP request to an HTTPS server") {
		t.Fatalf("plain GET on the TLS port: %d %q", resp.StatusCode, b)
	}
}

// TestTLSReloadsCertificate: replacing the files makes new connections get
// the new certificate while an open connection keeps working; a bad new pair
// keeps the previous one.
func TestTLSReloadsCertificate(t *testing.T) {
	t.Parallel()
	s, ca, certFile, keyFile := startTLS(t, nil)
	old := pixiutest.DialTLS(t, s.Addr, s.App.Key, ca.ClientConfig())
	old.Subscribe("renewal", "", "", "")
	first := servedSerial(t, s.Addr, ca)

	newCert, newKey, leaf := ca.Leaf(t)
	replace(t, newKey, keyFile)
	replace(t, newCert, certFile)
	pixiutest.WaitFor(t, 30*time.Second, func() error {
		if got := servedSerial(t, s.Addr, ca); got != leaf.SerialNumber.String() {
			return errorf("serving serial %s (first %s), want the new %s", got, first, leaf.SerialNumber)
		}
		return nil
	})
	rest := s.REST()
	rest.HTTP = ca.HTTPClient()
	rest.Trigger(t, []string{"renewal"}, "still-here", `{}`)
	old.Expect("still-here")

	// A half-written renewal: the key no longer matches. The new pair
	// stays in use.
	third, _, _ := ca.Leaf(t)
	replace(t, third, certFile)
	time.Sleep(1500 * time.Millisecond) // past the reload check interval
	for range 3 {
		if got := servedSerial(t, s.Addr, ca); got != leaf.SerialNumber.String() {
			t.Fatalf("after a mismatched pair: serving %s, want %s kept", got, leaf.SerialNumber)
		}
	}
}

// replace moves src over dst (atomically, as renewal tools do).
func replace(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// servedSerial returns the serial number of the certificate a new TLS
// connection is served.
func servedSerial(t *testing.T, addr string, ca *pixiutest.CA) string {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLSDemoTrade: the demo over HTTPS publishes a trade (its Go SDK client
// reaches the REST API in-process) that a wss:// subscriber receives.
func TestTLSDemoTrade(t *testing.T) {
	t.Parallel()
	s, ca, _, _ := startTLS(t, demoOn)
	c := pixiutest.DialTLS(t, s.Addr, s.App.Key, ca.ClientConfig())
	c.Subscribe("price_channel", "", "", "")
	hc := ca.HTTPClient()
	jar, _ := cookiejar.New(nil)
	hc.Jar = jar
	hc.CheckRedirect = noRedirect.CheckRedirect
	resp, err := hc.Get("https://" + s.Addr + "/demo/trade")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no csrf token in the trade form over TLS: %d %s", resp.StatusCode, b)
	}
	v := url.Values{"price": {"99.5"}, "amount": {"1"}, "side": {"buy"}, "csrf": {string(m[1])}}
	resp, err = hc.PostForm("https://"+s.Addr+"/demo/trade", v)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /demo/trade over TLS: %d", resp.StatusCode)
	}
	var trade struct{ Price float64 }
	if err := json.Unmarshal([]byte(c.Expect("update").DataString()), &trade); err != nil || trade.Price != 99.5 {
		t.Fatalf("trade over TLS: %+v %v", trade, err)
	}
}

// TestTLSSilentClientIsClosed: a client that opens TCP and sends nothing, and
// one that starts a handshake and stalls, are both closed by the server.
func TestTLSSilentClientIsClosed(t *testing.T) {
	t.Parallel()
	s, _, _, _ := startTLS(t, nil)
	for _, first := range [][]byte{nil, {0x16, 0x03, 0x01}} {
		nc, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if first != nil {
			if _, err := nc.Write(first); err != nil {
				t.Fatal(err)
			}
		}
		_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := io.Copy(io.Discard, nc) // returns at EOF: the server closed
		if err != nil {
			t.Fatalf("sent %x and stalled: not closed by the server (%v)", first, err)
		}
		if n != 0 {
			t.Fatalf("sent %x and stalled: got %d bytes", first, n)
		}
	}
}
