package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// TestACMEWithPebble obtains a certificate from a local ACME CA: Let's
// Encrypt's Pebble (`go tool pebble`, pinned in go.mod), validating for real
// with TLS-ALPN-01 against Pixiu's port (its DNS answered by
// pebble-challtestsrv: every name is 127.0.0.1). A wss:// client naming the
// domain then gets a certificate Pebble's root signed.
func TestACMEWithPebble(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpsCA := pixiutest.NewCA(t) // Pebble's own HTTPS (directory) certificate
	pebbleCert, pebbleKey, _ := httpsCA.Leaf(t)
	caFile := filepath.Join(dir, "pebble-https-ca.pem")
	if err := os.WriteFile(caFile, httpsCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	acmePort, mgmtPort, challMgmt := freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)
	dnsPort := freeDNSPort(t)
	const domain = "pixiu.test"
	s := pixiutest.Start(t, func(c *config.Config) {
		c.TLS.ACME = config.ACME{Domains: []string{domain}, Email: "ops@pixiu.test",
			CacheDir:     filepath.Join(dir, "acme-cache"),
			DirectoryURL: "https://127.0.0.1:" + strconv.Itoa(acmePort) + "/dir", CAFile: caFile}
	})
	_, port, _ := net.SplitHostPort(s.Addr)

	goTool(t, "pebble-challtestsrv", nil, "-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
		"-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort), "-management", "127.0.0.1:"+strconv.Itoa(challMgmt),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":             pebbleCert, "privateKey": pebbleKey,
		"httpPort": freeTCPPort(t), "tlsPort": mustAtoi(t, port), // TLS-ALPN-01 goes to Pixiu
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	goTool(t, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", cfgFile, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort))

	// Pebble's issuing root, from its management interface.
	hc := httpsCA.HTTPClient()
	var root *x509.CertPool
	pixiutest.WaitFor(t, 2*time.Minute, func() error { // the first `go tool` run builds Pebble
		resp, err := hc.Get("https://127.0.0.1:" + strconv.Itoa(mgmtPort) + "/roots/0")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		pem, _ := io.ReadAll(resp.Body)
		root = x509.NewCertPool()
		if resp.StatusCode != 200 || !root.AppendCertsFromPEM(pem) {
			return fmt.Errorf("pebble root: %d %s", resp.StatusCode, pem)
		}
		return nil
	})

	// The first handshakes wait for the order (and may time out); then the
	// certificate is served from autocert's cache.
	client := &tls.Config{ServerName: domain, RootCAs: root, MinVersion: tls.VersionTLS12}
	var leaf *x509.Certificate
	pixiutest.WaitFor(t, 3*time.Minute, func() error {
		d := &net.Dialer{Timeout: 30 * time.Second}
		tc, err := tls.DialWithDialer(d, "tcp", s.Addr, client)
		if err != nil {
			return err
		}
		defer tc.Close()
		leaf = tc.ConnectionState().PeerCertificates[0]
		return nil
	})
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain {
		t.Fatalf("certificate for %v, want [%s]", leaf.DNSNames, domain)
	}
	c := pixiutest.DialTLS(t, s.Addr, s.App.Key, client)
	c.Subscribe("acme", "", "", "")
	rest := s.REST()
	rest.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: client}}
	rest.Trigger(t, []string{"acme"}, "issued", `{}`)
	c.Expect("issued")
	if _, err := os.Stat(filepath.Join(dir, "acme-cache", domain)); err != nil {
		t.Fatalf("certificate not in the cache directory: %v", err)
	}
}

// goTool runs `go tool NAME args…` (a tool pinned in go.mod) until the test ends.
func goTool(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	// `go tool -n` builds the tool (cached) and prints its path: run the
	// binary itself, so stopping it stops the tool (not only the go command).
	path, err := exec.Command("go", "tool", "-n", name).Output()
	if err != nil {
		t.Fatalf("go tool -n %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, strings.TrimSpace(string(path)), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), env...)
	logs := &pixiutest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("go tool %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("go tool %s output:\n%s", name, logs.String())
		}
	})
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freeDNSPort returns a port free for both TCP and UDP on 127.0.0.1:
// pebble-challtestsrv serves DNS on both, and a port free for UDP alone
// may be a busy TCP port (its bind then fails and every validation with it).
func freeDNSPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
