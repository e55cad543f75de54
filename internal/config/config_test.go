package config

import (
	"os"
	"strings"
	"testing"
)

// TestEveryEnvVarIsDocumented: each setting has a PIXIU_* variable, no two
// share one, and README's table lists them all.
func TestEveryEnvVarIsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range Settings() {
		if prev, dup := seen[s.Env]; dup {
			t.Errorf("%s and %s share %s", prev, s.Key, s.Env)
		}
		seen[s.Env] = s.Key
		if row := "| `" + s.Key + "` | `" + s.Env + "` |"; !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row %s", row)
		}
	}
	if len(seen) < 30 {
		t.Fatalf("only %d settings found", len(seen))
	}
}

// TestEnvSetsEverySetting: each variable sets its key, read as YAML.
func TestEnvSetsEverySetting(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PIXIU_LIMITS_MAX_EVENT_BYTES": "20480", "PIXIU_CONSOLE_ENABLED": "false",
		"PIXIU_WEBHOOKS_VACATE_DELAY": "5s", "PIXIU_CLUSTER_LEASE_TTL": "3", "PIXIU_LOG_FORMAT": "json",
		"PIXIU_WEBHOOKS_MAX_OUTBOX_EVENTS": "7", "PIXIU_CLUSTER": "redis://127.0.0.1:6379/0"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxEventBytes != 20480 || *c.Console.Enabled || c.Webhooks.VacateDelay.D().String() != "5s" ||
		c.Cluster.LeaseTTL.D().String() != "3s" || c.LogFormat != "json" || c.Webhooks.MaxOutboxEvents != 7 ||
		c.Cluster.Redis != env["PIXIU_CLUSTER"] {
		t.Fatalf("env not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
