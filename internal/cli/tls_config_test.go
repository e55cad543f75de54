package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// TestConfigCheckTLS: tls.* is checked by `config check` and refused by
// `serve` with the same line: both files or neither, files that load as a
// pair, ACME settings that make sense and not beside files.
func TestConfigCheckTLS(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	cert, key, _ := ca.Leaf(t)
	_, otherKey, _ := ca.Leaf(t)
	cases := []struct{ name, yaml, want string }{
		{"cert only", "tls:\n  cert_file: " + cert + "\n", ":1: tls.key_file: required with tls.cert_file"},
		{"key only", "tls:\n  key_file: " + key + "\n", ":1: tls.cert_file: required with tls.key_file"},
		{"missing file", "tls:\n  cert_file: " + cert + ".gone\n  key_file: " + key + "\n",
			":2: tls.cert_file: certificate and key do not load as a pair: open " + cert + ".gone: no such file or directory"},
		{"mismatched pair", "tls:\n  cert_file: " + cert + "\n  key_file: " + otherKey + "\n",
			":2: tls.cert_file: certificate and key do not load as a pair: tls: private key does not match public key"},
		{"not PEM", "tls:\n  cert_file: " + key + "\n  key_file: " + key + "\n",
			":2: tls.cert_file: certificate and key do not load as a pair"},
		{"acme and files", "tls:\n  cert_file: " + cert + "\n  key_file: " + key + "\n  acme:\n    domains: [push.example.com]\n",
			":5: tls.acme.domains: not with tls.cert_file/tls.key_file"},
		{"acme wildcard", "tls:\n  acme:\n    domains: [\"*.example.com\"]\n", ":3: tls.acme.domains[0]: want a host name"},
		{"acme address", "tls:\n  acme:\n    domains: [127.0.0.1]\n", ":3: tls.acme.domains[0]: want a host name"},
		{"acme without domains", "tls:\n  acme:\n    email: ops@example.com\n", ":2: tls.acme.domains: required with the other tls.acme settings"},
		{"acme email", "tls:\n  acme:\n    domains: [push.example.com]\n    email: ops\n", ":4: tls.acme.email: want an e-mail address"},
		{"acme directory", "tls:\n  acme:\n    domains: [push.example.com]\n    directory_url: http://ca.test/dir\n",
			":4: tls.acme.directory_url: want an https:// ACME directory URL"},
		{"acme ca file", "tls:\n  acme:\n    domains: [push.example.com]\n    ca_file: " + key + "\n",
			":4: tls.acme.ca_file: no PEM certificate in it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, tc.yaml)
			code, out, errs := pixiu(t, nil, "config", "check", file)
			if code != 1 || out != "" || !strings.Contains(errs, "pixiu: config: "+file+tc.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("check: %d %q\n%s\nwant one line with %q", code, out, errs, file+tc.want)
			}
			env := map[string]string{"PIXIU_STORE_PATH": filepath.Join(t.TempDir(), "s.db")}
			scode, sout, serrs := pixiu(t, env, "serve", "--config", file, "--host", "127.0.0.1")
			if scode != 1 || sout != "" || serrs != errs {
				t.Fatalf("serve: %d %q\n%s\nwant check's\n%s", scode, sout, serrs, errs)
			}
		})
	}
	// A valid pair passes, from the file or the environment.
	if code, out, errs := pixiu(t, nil, "config", "check", writeFile(t, "tls:\n  cert_file: "+cert+"\n  key_file: "+key+"\n")); code != 0 {
		t.Fatalf("valid pair: %d %q %s", code, out, errs)
	}
	env := map[string]string{"PIXIU_TLS_CERT_FILE": cert, "PIXIU_TLS_KEY_FILE": otherKey}
	if code, _, errs := pixiu(t, env, "config", "check", writeFile(t, "port: 6001\n")); code != 1 ||
		!strings.Contains(errs, "tls.cert_file (PIXIU_TLS_CERT_FILE): certificate and key do not load as a pair") {
		t.Fatalf("env pair: %d %s", code, errs)
	}
}
