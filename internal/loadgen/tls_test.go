package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/loadgen"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// TestTLSScenarios: idle and churn with --tls against a real Pixiu serving
// TLS (the CA given with --ca); --tls elsewhere and --ca alone are usage
// errors.
func TestTLSScenarios(t *testing.T) {
	t.Parallel()
	ca := pixiutest.NewCA(t)
	certFile, keyFile, _ := ca.Leaf(t)
	s := pixiutest.Start(t, func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ws://" + s.Addr
	for _, args := range [][]string{
		{"idle", "--conns", "20", "--hold", "100ms", "--settle", "100ms"},
		{"churn", "--concurrency", "2", "--max", "20"},
	} {
		var out, errb bytes.Buffer
		args = append(args, "--url", url, "--tls", "--ca", caFile, "--json", "--quiet")
		if code := loadgen.Main(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		var r map[string]any
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || r["ok"] != true {
			t.Fatalf("%v: %v %s", args, err, out.String())
		}
		if args[0] == "idle" && r["subscribed"] != float64(20) {
			t.Fatalf("idle over TLS: %s", out.String())
		}
	}
	// Without the CA the handshake fails (the certificate is not trusted).
	var out, errb bytes.Buffer
	if code := loadgen.Main(context.Background(), []string{"churn", "--max", "1", "--concurrency", "1", "--url", url, "--tls", "--json", "--quiet"}, &out, &errb); code != 1 ||
		!strings.Contains(out.String(), "tls") {
		t.Fatalf("untrusted certificate: exit %d %s %s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"fanout", "--url", url, "--tls"},
		{"idle", "--url", url, "--ca", caFile},
	} {
		var out, errb bytes.Buffer
		if code := loadgen.Main(context.Background(), args, &out, &errb); code != 2 {
			t.Fatalf("%v: exit %d, want 2 (usage)\n%s", args, code, errb.String())
		}
	}
}
