package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// logLines decodes the JSON log lines in buf.
func logLines(t *testing.T, buf *pixiutest.SyncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// waitLog polls the log for a line with msg and the request id.
func waitLog(t *testing.T, buf *pixiutest.SyncBuffer, msg, id string) {
	t.Helper()
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		for _, l := range logLines(t, buf) {
			if l["msg"] == msg && l["request_id"] == id {
				return nil
			}
		}
		return fmt.Errorf("no %q line with request_id %q in:\n%s", msg, id, buf.String())
	})
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// TestRequestIDs: REST requests answered on the event loops and through
// net/http, and console requests, answer X-Request-Id (the client's when
// well formed and bounded, else a generated one) and their log lines carry
// it as request_id.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	buf := &pixiutest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := pixiutest.StartWithLog(t, nil, log)
	body := []byte(`{"name":"e","channels":["c"],"data":"1"}`)
	path := "/apps/" + s.App.ID + "/events"
	publish := func(id string, chunked bool) *http.Response {
		t.Helper()
		q := signature.SignRequest(s.App.Key, s.App.Secret, "POST", path, nil, body, time.Now())
		var rd io.Reader = bytes.NewReader(body)
		if chunked { // no length: chunked, which the loops hand to net/http
			rd = io.MultiReader(rd)
		}
		req, err := http.NewRequest("POST", "http://"+s.Addr+path+"?"+q.Encode(), rd)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		// A connection of its own: the first request decides the path.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
		return resp
	}
	for _, chunked := range []bool{false, true} {
		// A well-formed id is kept and logged.
		id := "req-" + strconv.FormatBool(chunked) + "_01HZX.9:a"
		if got := publish(id, chunked).Header.Get("X-Request-Id"); got != id {
			t.Errorf("chunked=%v: X-Request-Id %q, want the client's %q", chunked, got, id)
		}
		waitLog(t, buf, "rest request", id)
		// Malformed or unbounded ids are replaced.
		for _, bad := range []string{strings.Repeat("a", 65), "two words", "semi;colon", "é"} {
			got := publish(bad, chunked).Header.Get("X-Request-Id")
			if !generatedID.MatchString(got) {
				t.Errorf("chunked=%v: X-Request-Id %q for the client's %q, want a generated id", chunked, got, bad)
			}
			waitLog(t, buf, "rest request", got)
		}
		// None sent: one is generated.
		if got := publish("", chunked).Header.Get("X-Request-Id"); !generatedID.MatchString(got) {
			t.Errorf("chunked=%v: X-Request-Id %q, want a generated id", chunked, got)
		}
	}
	// The raw answer on the loop carries the header once.
	raw := rawREST(t, s.Addr, "GET /apps/"+s.App.ID+"/nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: raw-1\r\n\r\n")
	if strings.Count(raw, "X-Request-Id: raw-1\r\n") != 1 {
		t.Errorf("raw answer without its request id:\n%s", raw)
	}
	// Console: a failed sign-in is logged with the request id.
	req, _ := http.NewRequest("POST", "http://"+s.Addr+"/console/api/login", strings.NewReader(`{"password":"wrong-password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "console-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Request-Id") != "console-1" {
		t.Errorf("console sign-in: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	waitLog(t, buf, "console: failed sign-in", "console-1")
}

// rawREST sends one request on a new connection and returns the answer.
func rawREST(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b []byte
	tmp := make([]byte, 4096)
	for !bytes.Contains(b, []byte("\r\n\r\n")) || !bytes.HasSuffix(b, []byte("}")) {
		n, err := c.Read(tmp)
		b = append(b, tmp[:n]...)
		if err != nil {
			break
		}
	}
	return string(b)
}

// TestRedisClientLogBounded: go-redis's own lines about an unreachable
// Redis (a failed dial every second) reach the server's log as structured
// warnings, at most 5 a minute. Not parallel: go-redis's logger is global
// to the process, and the last server started sets it.
func TestRedisClientLogBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	buf := &pixiutest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := pixiutest.StartWithLog(t, func(c *config.Config) { c.Cluster.Redis = "redis://" + dead + "/0" }, log)
	// Enough failed attempts that an unlimited log would pass the bound.
	waitMetric(t, s.Addr, `pixiu_redis_errors_total{kind="connection"}`, func(v float64) bool { return v >= 8 })
	n := 0
	for _, l := range logLines(t, buf) {
		if l["msg"] != "redis client" {
			continue
		}
		n++
		if l["component"] != "go-redis" || l["level"] != "WARN" || !strings.Contains(fmt.Sprint(l["detail"]), "dial") {
			t.Errorf("go-redis line %v: want component go-redis, level WARN, the dial failure in detail", l)
		}
	}
	if n < 1 || n > 5 {
		t.Errorf("%d go-redis lines after 8 failed attempts, want 1 to 5:\n%s", n, buf.String())
	}
}
