package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// soketiConfig is shaped like a soketi user's config.json (soketi's docs:
// app management, array driver), with settings Pixiu maps and some it
// does not.
const soketiConfig = `{
  "debug": true,
  "port": 6001,
  "appManager.array.apps": [
    {
      "id": "shop", "key": "shop-key", "secret": "shop-secret",
      "maxConnections": "500", "enableClientMessages": true, "enabled": true,
      "maxBackendEventsPerSecond": -1, "maxClientEventsPerSecond": 20, "maxReadRequestsPerSecond": -1,
      "maxPresenceMembersPerChannel": 50, "maxEventPayloadInKb": 100,
      "webhooks": [
        {"url": "https://example.com/hooks", "event_types": ["channel_occupied", "channel_vacated"],
         "filter": {"channel_name_starts_with": "private-", "channel_name_ends_with": "-room"}}
      ]
    },
    {"id": 1234, "key": "numeric-key", "secret": "numeric-secret", "maxConnections": -1,
     "maxClientEventsPerSecond": -1, "enableUserAuthentication": true}
  ]
}`

func importFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAppsImportSoketi(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	file := importFile(t, "config.json", soketiConfig)
	// A dry run writes nothing and says what would happen.
	code, out, errs := e.run("import", file, "--dry-run")
	if code != 0 || !strings.Contains(out, "Dry run: would import 2 apps") ||
		!strings.Contains(out, "not kept: maxBackendEventsPerSecond") ||
		!strings.Contains(out, "not kept: webhooks[0].filter.channel_name_ends_with") {
		t.Fatalf("dry run: %d\n%s%s", code, out, errs)
	}
	if _, out, _ := e.run("list"); strings.Contains(out, "shop") {
		t.Fatalf("a dry run stored apps:\n%s", out)
	}
	code, out, errs = e.run("import", file)
	if code != 0 || !strings.Contains(out, "Imported 2 apps") {
		t.Fatalf("import: %d\n%s%s", code, out, errs)
	}
	shop := e.json("show", "shop")
	if shop.Key != "shop-key" || shop.Secret != "shop-secret" || shop.Name != "shop" || !shop.ClientEvents ||
		shop.MaxConnections != 500 || shop.MaxClientEventsPerSecond != 20 || shop.MaxPresenceMembers != 50 {
		t.Errorf("shop imported as %+v", shop.App)
	}
	if len(shop.Webhooks) != 1 || shop.Webhooks[0].URL != "https://example.com/hooks" ||
		shop.Webhooks[0].ChannelPrefix != "private-" || strings.Join(shop.Webhooks[0].Events, ",") != "channel_occupied,channel_vacated" {
		t.Errorf("shop's webhooks %+v", shop.Webhooks)
	}
	num := e.json("show", "1234")
	if num.MaxConnections != 0 || !num.UserAuth || num.MaxClientEventsPerSecond < 1000 {
		t.Errorf("1234 imported as %+v (-1 = unlimited)", num.App)
	}
	// Again: every app clashes, nothing changes.
	code, _, errs = e.run("import", file)
	if code != 1 || !strings.Contains(errs, `id "shop" is already used by stored app shop`) ||
		!strings.Contains(errs, "nothing imported") {
		t.Fatalf("second import: %d %s", code, errs)
	}
}

func TestAppsImportNestedSoketiAndJSONAndCSV(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	nested := importFile(t, "soketi.json", `{"appManager": {"driver": "array", "array": {"apps": [{"id": "n1", "key": "n1-key", "secret": "s"}]}}}`)
	if code, out, errs := e.run("import", nested, "--format", "soketi", "--json"); code != 0 {
		t.Fatalf("nested: %d %s %s", code, out, errs)
	} else {
		var r struct {
			DryRun bool `json:"dry_run"`
			Apps   []struct{ ID, Key string }
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.DryRun || len(r.Apps) != 1 || r.Apps[0].ID != "n1" {
			t.Fatalf("--json: %q %v", out, err)
		}
	}
	list := importFile(t, "apps.json", `[{"id": "j1", "key": "j1-key", "secret": "j1-secret", "name": "First"},
		{"id": "j2", "key": "j2-key", "secret": "j2-secret"}]`)
	if code, _, errs := e.run("import", list); code != 0 {
		t.Fatalf("json list: %d %s", code, errs)
	}
	if a := e.json("show", "j1"); a.Name != "First" || a.Secret != "j1-secret" {
		t.Errorf("j1 %+v", a.App)
	}
	csvFile := importFile(t, "apps.csv", "id,key,secret,name\nc1,c1-key,c1-secret,\"Shop, EU\"\n# a comment\nc2,c2-key,c2-secret\n")
	if code, out, errs := e.run("import", csvFile); code != 0 || !strings.Contains(out, "Imported 2 apps") {
		t.Fatalf("csv: %d %s %s", code, out, errs)
	}
	if a := e.json("show", "c1"); a.Name != "Shop, EU" || a.Key != "c1-key" {
		t.Errorf("c1 %+v", a.App)
	}
	if a := e.json("show", "c2"); a.Name != "c2" {
		t.Errorf("c2 named %q, want its id", a.Name)
	}
}

func TestAppsImportRefusesBadFiles(t *testing.T) {
	t.Parallel()
	e := newAppsEnv(t)
	if code, _, errs := e.run("import", importFile(t, "ok.csv", "taken,taken-key,s\n")); code != 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"dup.csv", "a,a-key,s\nb,a-key,s\n", `key "a-key" is already used by line 1 of this file`},
		{"clash.csv", "fresh,fresh-key,s\ntaken,other-key,s\n", `id "taken" is already used by stored app taken`},
		{"short.csv", "a,a-key\n", "want id,key,secret[,name], got 2 fields"},
		{"empty.json", `[]`, "the file holds no apps"},
		{"nosecret.json", `[{"id": "x", "key": "y"}]`, "id, key and secret are required"},
		{"badid.json", `[{"id": "a b", "key": "k", "secret": "s"}]`, "may not contain"},
		{"badhook.json", `[{"id": "h", "key": "h-key", "secret": "s", "webhooks": [{"url": "ftp://x"}]}]`, "webhooks[0].url"},
		{"badtype.json", `[{"id": "t", "key": "t-key", "secret": "s", "enableClientMessages": "maybe"}]`, "enableClientMessages: want true or false"},
		{"noapps.json", `{"port": 6001}`, "appManager.array.apps"},
		{"garbage.json", `[{`, "not a JSON object or array"},
	} {
		code, _, errs := e.run("import", importFile(t, tc.name, tc.body))
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: %d %q, want 1 and %q", tc.name, code, errs, tc.want)
		}
	}
	// All or nothing: the fresh app of clash.csv was not stored.
	if _, out, _ := e.run("list"); strings.Contains(out, "fresh") {
		t.Errorf("a refused import stored an app:\n%s", out)
	}
	if code, _, errs := e.run("import", "nope.csv", "--format", "xml"); code != 2 || !strings.Contains(errs, "--format") {
		t.Errorf("--format xml: %d %s", code, errs)
	}
	if code, _, errs := e.run("import", filepath.Join(t.TempDir(), "missing.csv")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: %d %s", code, errs)
	}
}
