package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// restServer is a fake Pixiu REST API for one app: it answers 401 unless the
// request is signed with that app's credentials and addressed to its id.
type restServer struct {
	appID, key, secret string
	host, port         string // of the listener

	mu       sync.Mutex
	requests []string // guarded by mu: "METHOD path?decoded-query-without-auth body"
	status   int      // guarded by mu: answer status, default 200
	body     string   // guarded by mu: answer body, default {}
}

func newRESTServer(t *testing.T, appID, key, secret string) *restServer {
	t.Helper()
	s := &restServer{appID: appID, key: key, secret: secret, status: 200, body: "{}"}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	s.host, s.port = u.Hostname(), u.Port()
	return s
}

func (s *restServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	if err := signature.VerifyRequest(s.key, s.secret, r.Method, r.URL.Path, q, body, time.Now(), 600*time.Second); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/apps/"+s.appID+"/") {
		http.Error(w, "Resource not found: app_id is probably invalid", http.StatusNotFound)
		return
	}
	for _, k := range []string{"auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"} {
		q.Del(k)
	}
	s.mu.Lock()
	s.requests = append(s.requests, strings.TrimSuffix(r.Method+" "+r.URL.Path+"?"+q.Encode(), "?")+" "+string(body))
	status, answer := s.status, s.body
	s.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func (s *restServer) answer(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *restServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// env returns a getenv over m.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

type run func(context.Context, []string, func(string) string, io.Writer, io.Writer) int

func call(t *testing.T, cmd run, args []string, getenv func(string) string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cmd(context.Background(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cmd     run
		args    []string // the server's --host/--port/credentials are appended
		answer  string
		wantReq string
		wantOut string
	}{
		{name: "trigger", cmd: runTrigger,
			args:    []string{"--channel", "my-channel", "--event", "my-event", "--data", `{"message":"hi"}`},
			wantReq: `POST /apps/app-1/events {"name":"my-event","channels":["my-channel"],"data":"{\"message\":\"hi\"}"}`,
			wantOut: "{}\n"},
		{name: "trigger several channels with info", cmd: runTrigger,
			args:    []string{"--channel", "a,b", "--channel", "presence-c", "--event", "e", "--data", "7", "--socket-id", "1.2", "--info", "user_count"},
			answer:  `{"channels":{"presence-c":{"user_count":1}}}`,
			wantReq: `POST /apps/app-1/events {"name":"e","channels":["a","b","presence-c"],"data":"7","socket_id":"1.2","info":"user_count"}`,
			wantOut: `{"channels":{"presence-c":{"user_count":1}}}` + "\n"},
		{name: "trigger a JSON string", cmd: runTrigger,
			args:    []string{"--channel", "a", "--event", "e", "--data", `"hi"`},
			wantReq: `POST /apps/app-1/events {"name":"e","channels":["a"],"data":"\"hi\""}`, wantOut: "{}\n"},
		{name: "channels", cmd: runChannels, args: nil,
			answer: `{"channels":{"a":{}}}`, wantReq: "GET /apps/app-1/channels ", wantOut: `{"channels":{"a":{}}}` + "\n"},
		{name: "channels filtered", cmd: runChannels, args: []string{"--prefix", "presence-", "--info", "user_count"},
			answer:  `{"channels":{"presence-a":{"user_count":2}}}`,
			wantReq: "GET /apps/app-1/channels?filter_by_prefix=presence-&info=user_count ",
			wantOut: `{"channels":{"presence-a":{"user_count":2}}}` + "\n"},
		{name: "users", cmd: runUsers, args: []string{"--channel", "presence-room"},
			answer: `{"users":[{"id":"1"},{"id":"2"}]}`, wantReq: "GET /apps/app-1/channels/presence-room/users ",
			wantOut: `{"users":[{"id":"1"},{"id":"2"}]}` + "\n"},
		{name: "history", cmd: runHistory, args: []string{"--channel", "prices", "--limit", "2", "--since", "1-0"},
			answer:  `{"events":[{"id":"1-1","event":"e","data":"7"}],"more":true}`,
			wantReq: "GET /apps/app-1/channels/prices/history?limit=2&since=1-0 ",
			wantOut: `{"events":[{"id":"1-1","event":"e","data":"7"}],"more":true}` + "\n"},
		{name: "history empty", cmd: runHistory, args: []string{"--channel", "prices"},
			answer: `{"events":[],"more":false}`, wantReq: "GET /apps/app-1/channels/prices/history ",
			wantOut: `{"events":[],"more":false}` + "\n"},
		{name: "users empty", cmd: runUsers, args: []string{"--channel", "presence-room"},
			answer: `{"users":[]}`, wantReq: "GET /apps/app-1/channels/presence-room/users ", wantOut: `{"users":[]}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRESTServer(t, "app-1", "key-1", "secret-1")
			if tc.answer != "" {
				s.answer(200, tc.answer)
			}
			args := append(tc.args, "--host", s.host, "--port", s.port, "--app-id", "app-1", "--key", "key-1", "--secret", "secret-1")
			code, out, errOut := call(t, tc.cmd, args, env(nil))
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			if out != tc.wantOut {
				t.Fatalf("stdout = %q, want %q", out, tc.wantOut)
			}
			if got := s.received(); len(got) != 1 || got[0] != tc.wantReq {
				t.Fatalf("requests = %q, want [%q]", got, tc.wantReq)
			}
		})
	}
}

// TestCredentialSources checks the precedence flags > PIXIU_* env > config
// file's first app > development defaults.
func TestCredentialSources(t *testing.T) {
	t.Parallel()
	cfgFile := func(t *testing.T, port string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "pixiu.yaml")
		y := "host: 0.0.0.0\nport: " + port + "\napps:\n  - id: file-id\n    key: file-key\n    secret: file-secret\n  - id: other\n    key: other\n    secret: other\n"
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name                string
		serverApp           [3]string
		useFile, portInFile bool
		env                 map[string]string
		flags               []string
	}{
		{name: "defaults", serverApp: [3]string{"app-id", "app-key", "app-secret"}},
		{name: "env", serverApp: [3]string{"e-id", "e-key", "e-secret"},
			env: map[string]string{"PIXIU_APP_ID": "e-id", "PIXIU_APP_KEY": "e-key", "PIXIU_APP_SECRET": "e-secret"}},
		{name: "config file with its port", serverApp: [3]string{"file-id", "file-key", "file-secret"}, useFile: true, portInFile: true},
		{name: "env beats file", serverApp: [3]string{"file-id", "file-key", "e-secret"}, useFile: true,
			env: map[string]string{"PIXIU_APP_SECRET": "e-secret"}},
		{name: "flags beat env", serverApp: [3]string{"f-id", "f-key", "f-secret"},
			env:   map[string]string{"PIXIU_APP_ID": "e-id", "PIXIU_APP_KEY": "e-key", "PIXIU_APP_SECRET": "e-secret"},
			flags: []string{"--app-id", "f-id", "--key", "f-key", "--secret", "f-secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRESTServer(t, tc.serverApp[0], tc.serverApp[1], tc.serverApp[2])
			e := map[string]string{"PIXIU_HOST": s.host}
			for k, v := range tc.env {
				e[k] = v
			}
			args := append([]string{"--channel", "c", "--event", "e", "--data", "{}"}, tc.flags...)
			if tc.useFile {
				args = append(args, "--config", cfgFile(t, s.port))
			}
			if !tc.portInFile {
				e["PIXIU_PORT"] = s.port
			}
			if code, _, errOut := call(t, runTrigger, args, env(e)); code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			if n := len(s.received()); n != 1 {
				t.Fatalf("%d requests accepted", n)
			}
		})
	}
}

func TestClientCommandErrors(t *testing.T) {
	t.Parallel()
	s := newRESTServer(t, "app-id", "app-key", "app-secret")
	e := env(map[string]string{"PIXIU_HOST": s.host, "PIXIU_PORT": s.port})
	tests := []struct {
		name     string
		cmd      run
		args     []string
		getenv   func(string) string
		code     int
		inStderr string
	}{
		{name: "missing event", cmd: runTrigger, args: []string{"--channel", "c", "--data", "x"}, getenv: e, code: 2, inStderr: "required"},
		{name: "missing data", cmd: runTrigger, args: []string{"--channel", "c", "--event", "x"}, getenv: e, code: 2, inStderr: "required"},
		{name: "missing channel", cmd: runTrigger, args: []string{"--event", "e", "--data", "x"}, getenv: e, code: 2},
		{name: "unknown flag", cmd: runTrigger, args: []string{"--nope"}, getenv: e, code: 2, inStderr: "-nope"},
		{name: "extra argument", cmd: runChannels, args: []string{"extra"}, getenv: e, code: 2, inStderr: `"extra"`},
		{name: "history without channel", cmd: runHistory, args: nil, getenv: e, code: 2, inStderr: "--channel is required"},
		{name: "history negative limit", cmd: runHistory, args: []string{"--channel", "c", "--limit", "-1"}, getenv: e, code: 2, inStderr: "--limit must not be negative"},
		{name: "users without channel", cmd: runUsers, args: nil, getenv: e, code: 2},
		{name: "invalid channel", cmd: runTrigger, args: []string{"--channel", "a b", "--event", "e", "--data", "1"}, getenv: e, code: 2, inStderr: "invalid channel"},
		{name: "bad socket id", cmd: runTrigger, args: []string{"--channel", "a", "--event", "e", "--data", "1", "--socket-id", "x"}, getenv: e, code: 2},
		{name: "help", cmd: runUsers, args: []string{"-h"}, getenv: e, code: 0},
		{name: "data not JSON", cmd: runTrigger, args: []string{"--channel", "a", "--event", "e", "--data", "hello"}, getenv: e, code: 2, inStderr: `--data must be JSON`},
		{name: "wrong secret", cmd: runChannels, args: []string{"--secret", "bad"}, getenv: e, code: 1, inStderr: "401 Unauthorized: Invalid signature"},
		{name: "wrong app", cmd: runChannels, args: []string{"--app-id", "other"}, getenv: e, code: 1, inStderr: "404"},
		{name: "bad PIXIU_PORT", cmd: runChannels, getenv: env(map[string]string{"PIXIU_PORT": "x"}), code: 1, inStderr: "PIXIU_PORT"},
		{name: "missing config file", cmd: runChannels, args: []string{"--config", "/nonexistent/pixiu.yaml"}, getenv: e, code: 1, inStderr: "config"},
		{name: "unreachable server", cmd: runChannels, args: []string{"--host", "127.0.0.1", "--port", "1"}, getenv: env(nil), code: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := call(t, tc.cmd, tc.args, tc.getenv)
			if code != tc.code || !strings.Contains(errOut, tc.inStderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want it to contain %q)", code, tc.code, errOut, tc.inStderr)
			}
			if tc.code != 0 && out != "" {
				t.Fatalf("stdout on failure: %q", out)
			}
		})
	}
}

func TestServerErrorStatus(t *testing.T) {
	t.Parallel()
	s := newRESTServer(t, "app-id", "app-key", "app-secret")
	s.answer(403, "Over quota")
	code, out, errOut := call(t, runTrigger, []string{"--channel", "c", "--event", "e", "--data", "1", "--host", s.host, "--port", s.port}, env(nil))
	if code != 1 || out != "" || !strings.Contains(errOut, "403 Forbidden: Over quota") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestClientOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cf   connFlags
		env  map[string]string
		host string
		port int
	}{
		{name: "defaults", host: "127.0.0.1", port: 6001},
		{name: "host with port keeps it", cf: connFlags{host: "pixiu.local:7000"}, host: "pixiu.local:7000", port: 0},
		{name: "url host keeps its port", cf: connFlags{host: "https://pixiu.example.org"}, host: "https://pixiu.example.org", port: 0},
		{name: "env host and port", env: map[string]string{"PIXIU_HOST": "h", "PIXIU_PORT": "7"}, host: "h", port: 7},
		{name: "flag port beats env", cf: connFlags{port: 9}, env: map[string]string{"PIXIU_PORT": "7"}, host: "127.0.0.1", port: 9},
		{name: "wildcard becomes loopback", cf: connFlags{host: "0.0.0.0"}, host: "127.0.0.1", port: 6001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, err := tc.cf.options(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if opts.Host != tc.host || opts.Port != tc.port {
				t.Fatalf("host %q port %d, want %q %d", opts.Host, opts.Port, tc.host, tc.port)
			}
		})
	}
}
