package server_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules enforces the dependency direction of docs/ARCHITECTURE.md.
func TestImportRules(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/pixiu-io/pixiu/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/pixiu-io/pixiu/"
	forbidden := map[string][]string{
		"internal/protocol":       {"internal/"},
		"internal/signature":      {"internal/"},
		"internal/config":         {"internal/"},
		"internal/lograte":        {"internal/"},
		"internal/httpwire":       {"internal/"},
		"internal/apps":           {"internal/"},
		"internal/dbfile":         {"internal/"},
		"internal/metrics":        {"internal/"},
		"internal/buildinfo":      {"internal/"},
		"internal/recoveryjs":     {"internal/"},
		"internal/redisurl":       {"internal/", "github.com/redis"},
		"internal/tlsterm":        {"internal/", "github.com/panjf2000/gnet"},
		"internal/reqid":          {"internal/"},
		"internal/snippets":       {"internal/"},
		"internal/store":          {"internal/hub", "internal/wsconn", "internal/restapi", "internal/console"},
		"internal/usage":          {"internal/hub", "internal/wsconn", "internal/restapi", "internal/console"},
		"internal/webhook":        {"internal/wsconn", "internal/restapi", "internal/console", "internal/store"},
		"internal/cluster":        {"internal/hub", "internal/wsconn", "github.com/redis"},
		"internal/cluster/memory": {"internal/hub", "internal/wsconn"},
		"internal/cluster/redis":  {"internal/hub", "internal/wsconn", "internal/restapi"},
		"internal/hub":            {"net/http", "github.com/gobwas/ws", "github.com/panjf2000/gnet", "internal/wsconn", "internal/restapi", "internal/server", "internal/cluster/"},
		"internal/wsconn":         {"internal/restapi", "internal/console", "internal/server"},
		"internal/restapi":        {"internal/wsconn", "internal/console", "internal/server"},
		"internal/console":        {"internal/wsconn", "internal/restapi", "internal/server"},
		"pusher":                  {"internal/hub", "internal/wsconn", "internal/server", "internal/restapi", "internal/apps", "internal/config"},
		"internal/demo":           {"internal/"},
		"internal/loadgen":        {"internal/hub", "internal/wsconn", "internal/server", "internal/restapi"},
	}
	// allowed are the exceptions to a forbidden prefix.
	allowed := map[string][]string{
		"internal/config": {"internal/apps", "internal/protocol", "internal/redisurl"}, // the config file's apps are apps.App; cluster.redis is a redisurl form
		"internal/apps":   {"internal/protocol"},                                       // webhook event names
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			rel := strings.TrimPrefix(imp, mod)
			if (rel == "internal/server" || rel == "internal/cli") && pkg != "cmd/pixiu" && pkg != "internal/cli" && pkg != "internal/pixiutest" {
				t.Errorf("%s imports %s: only cmd/pixiu and cli may", pkg, rel)
			}
			if slices.Contains(allowed[pkg], rel) {
				continue
			}
			for _, bad := range forbidden[pkg] {
				if strings.HasPrefix(rel, bad) || strings.HasPrefix(imp, bad) {
					t.Errorf("%s must not import %s", pkg, imp)
				}
			}
		}
	}
}
