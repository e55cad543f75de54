package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/snippets"
	"github.com/pixiu-io/pixiu/internal/store"
)

const appsUsage = `usage: pixiu apps COMMAND [flags]

Commands (on the store of the config: --config FILE or PIXIU_CONFIG, PIXIU_STORE_PATH, PIXIU_STORE_DSN):
  create NAME [settings]       create an app with a generated id, key and secret
  list                         list the apps (config-file apps are read-only)
  show ID                      show an app's credentials, settings and today's usage
  update ID [settings]         change settings, e.g. --enabled=false --quota 200000
  rotate-secret ID             give the app a new secret (the old one stops working)
  delete ID                    delete the app and its usage (its connections are closed)
  import FILE [--dry-run] [--format auto|soketi|csv|json]
                               add apps with their own id, key and secret: a soketi config's
                               appManager.array.apps, a JSON array or CSV of id,key,secret[,name];
                               all or nothing (a clash with an existing app imports none)

Settings flags: --name, --enabled, --client-events, --user-auth, --subscription-count, --allowed-origins,
  --max-connections, --max-presence-members, --max-client-events-per-second, --quota,
  --history, --history-max-events, --history-max-age
Common flags: --config FILE, --json
A running server picks up changes within 2 seconds.
`

// appsCmd is one run of `pixiu apps`.
type appsCmd struct {
	cfg    config.Config
	store  *store.Store
	json   bool
	stdout io.Writer
}

// runApps runs `pixiu apps …`.
func runApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	group := newCommand("pixiu apps", strings.TrimPrefix(appsUsage, "usage: "), stdout, stderr)
	want := map[string]int{"create": 1, "list": 0, "show": 1, "update": 1, "rotate-secret": 1, "delete": 1, "import": 1}
	sub, code := group.subcommand(args, "create", "list", "show", "update", "rotate-secret", "delete", "import")
	if code >= 0 {
		return code
	}
	synopsis := map[string]string{"create": "create NAME [settings flags]", "list": "list", "show": "show ID",
		"update": "update ID [settings flags]", "rotate-secret": "rotate-secret ID", "delete": "delete ID",
		"import": "import FILE [--dry-run] [--format auto|soketi|csv|json]"}[sub]
	cmd := newCommand("pixiu apps "+sub, "pixiu apps "+synopsis, stdout, stderr)
	fs := cmd.fs
	file := fs.String("config", getenv("PIXIU_CONFIG"), "YAML config file (env PIXIU_CONFIG)")
	asJSON := fs.Bool("json", false, "print JSON")
	var sf settingsFlags
	if sub == "create" || sub == "update" {
		sf.register(fs)
	}
	var dryRun *bool
	var format *string
	if sub == "import" {
		dryRun = fs.Bool("dry-run", false, "check the file and print what would be imported, write nothing")
		format = fs.String("format", "auto", "file format: auto, soketi, csv or json (auto: .csv or not JSON → csv)")
	}
	pos, code := cmd.parse(args[1:], want[sub])
	if code >= 0 {
		return code
	}
	if format != nil && !slices.Contains(importFormats, *format) {
		return cmd.fail("--format %q: want one of %s", *format, strings.Join(importFormats, ", "))
	}
	cfg, err := config.Load(*file, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	if err := storeMissing(cfg); err != nil {
		fmt.Fprintln(stderr, "pixiu apps:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Options{Path: cfg.Store.Path, DSN: cfg.Store.DSN, Reserved: reservedIn(cfg.Apps),
		Log: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	defer st.Close()
	c := &appsCmd{cfg: cfg, store: st, json: *asJSON, stdout: stdout}
	switch sub {
	case "create":
		st := apps.Defaults()
		st.Name = pos[0]
		sf.apply(fs, &st)
		err = c.create(ctx, st)
	case "list":
		err = c.list(ctx)
	case "show":
		err = c.show(ctx, pos[0])
	case "update":
		err = c.update(ctx, pos[0], func(st *apps.Settings) error { sf.apply(fs, st); return nil })
	case "rotate-secret":
		err = c.rotate(ctx, pos[0])
	case "delete":
		err = c.delete(ctx, pos[0])
	case "import":
		return c.importApps(ctx, pos[0], *format, *dryRun, stderr)
	}
	return reportAppsError(stderr, err)
}

func reportAppsError(stderr io.Writer, err error) int {
	var fe apps.FieldErrors
	switch {
	case err == nil:
		return 0
	case errors.As(err, &fe):
		fmt.Fprintln(stderr, "pixiu apps: invalid settings:")
		for _, k := range fe.Keys() {
			fmt.Fprintf(stderr, "  %s: %s\n", k, fe[k])
		}
		return 2
	}
	fmt.Fprintln(stderr, "pixiu apps:", err)
	return 1
}

func reservedIn(list []apps.App) func(id, key string) bool {
	return func(id, key string) bool {
		for _, a := range list {
			if a.ID == id || a.Key == key {
				return true
			}
		}
		return false
	}
}

// settingsFlags are the app settings a command may set; only the flags
// given on the command line are applied.
type settingsFlags struct {
	v apps.Settings // the flags' values
}

func (sf *settingsFlags) register(fs *flag.FlagSet) {
	d, v := apps.Defaults(), &sf.v
	fs.StringVar(&v.Name, "name", "", "app name")
	fs.BoolVar(&v.Enabled, "enabled", d.Enabled, "accept connections and publishes (false closes them with 4003)")
	fs.BoolVar(&v.ClientEvents, "client-events", d.ClientEvents, "allow client-* events on private and presence channels")
	fs.BoolVar(&v.UserAuth, "user-auth", d.UserAuth, "authorized connections: close (4009) connections that neither sign in nor subscribe to a private/presence channel within user_auth_timeout")
	fs.BoolVar(&v.SubscriptionCount, "subscription-count", d.SubscriptionCount, "send pusher_internal:subscription_count")
	fs.IntVar(&v.MaxConnections, "max-connections", d.MaxConnections, "max concurrent connections, 0 = unlimited (4004 past it)")
	fs.IntVar(&v.MaxPresenceMembers, "max-presence-members", d.MaxPresenceMembers, "members per presence channel")
	fs.IntVar(&v.MaxClientEventsPerSecond, "max-client-events-per-second", d.MaxClientEventsPerSecond, "per connection (4301 past it)")
	fs.Int64Var(&v.DailyMessageQuota, "quota", d.DailyMessageQuota, "daily message quota, 0 = unlimited (REST publishes get 403 past it)")
	fs.Func("history", `comma-separated channel name prefixes that keep their recent events ("*" = all, "" = none)`,
		func(s string) error {
			v.History.Channels = nil
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					v.History.Channels = append(v.History.Channels, p)
				}
			}
			return nil
		})
	fs.IntVar(&v.History.MaxEvents, "history-max-events", d.History.MaxEvents, "events each history channel keeps")
	fs.IntVar(&v.History.MaxAgeSeconds, "history-max-age", d.History.MaxAgeSeconds, "seconds a kept event lives")
	fs.Func("allowed-origins", `comma-separated browser origins that may connect, e.g. https://*.example.com ("" = any)`,
		func(s string) error {
			v.AllowedOrigins = nil
			for _, o := range strings.Split(s, ",") {
				if o = strings.TrimSpace(o); o != "" {
					v.AllowedOrigins = append(v.AllowedOrigins, o)
				}
			}
			return nil
		})
}

// apply copies the settings of the flags that were given onto st.
func (sf *settingsFlags) apply(fs *flag.FlagSet, st *apps.Settings) {
	v := &sf.v
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			st.Name = v.Name
		case "enabled":
			st.Enabled = v.Enabled
		case "client-events":
			st.ClientEvents = v.ClientEvents
		case "user-auth":
			st.UserAuth = v.UserAuth
		case "subscription-count":
			st.SubscriptionCount = v.SubscriptionCount
		case "max-connections":
			st.MaxConnections = v.MaxConnections
		case "max-presence-members":
			st.MaxPresenceMembers = v.MaxPresenceMembers
		case "max-client-events-per-second":
			st.MaxClientEventsPerSecond = v.MaxClientEventsPerSecond
		case "quota":
			st.DailyMessageQuota = v.DailyMessageQuota
		case "allowed-origins":
			st.AllowedOrigins = v.AllowedOrigins
		case "history":
			st.History.Channels = v.History.Channels
		case "history-max-events":
			st.History.MaxEvents = v.History.MaxEvents
		case "history-max-age":
			st.History.MaxAgeSeconds = v.History.MaxAgeSeconds
		}
	})
}

// configApp returns the config file's app with id, if any.
func (c *appsCmd) configApp(id string) *apps.App {
	for _, a := range c.cfg.Apps {
		if a.ID == id {
			a.ReadOnly = true
			return &a
		}
	}
	return nil
}

// writable refuses ids of config-file apps.
func (c *appsCmd) writable(id string) error {
	if c.configApp(id) != nil {
		return fmt.Errorf("app %s comes from the config file and is read-only: change it there", id)
	}
	return nil
}

func notFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no app with id %q in the store (see `pixiu apps list`)", id)
	}
	return err
}

func (c *appsCmd) create(ctx context.Context, st apps.Settings) error {
	a, err := c.store.CreateApp(ctx, st)
	if err != nil {
		return err
	}
	return c.print(ctx, a, "Created app")
}

func (c *appsCmd) show(ctx context.Context, id string) error {
	a := c.configApp(id)
	if a == nil {
		var err error
		if a, err = c.store.App(ctx, id); err != nil {
			return notFound(id, err)
		}
	}
	return c.print(ctx, a, "App")
}

func (c *appsCmd) update(ctx context.Context, id string, change func(*apps.Settings) error) error {
	if err := c.writable(id); err != nil {
		return err
	}
	a, err := c.store.UpdateApp(ctx, id, change)
	if err != nil {
		return notFound(id, err)
	}
	return c.print(ctx, a, "Updated app")
}

func (c *appsCmd) rotate(ctx context.Context, id string) error {
	if err := c.writable(id); err != nil {
		return err
	}
	a, err := c.store.RotateSecret(ctx, id)
	if err != nil {
		return notFound(id, err)
	}
	return c.print(ctx, a, "New secret for app")
}

func (c *appsCmd) delete(ctx context.Context, id string) error {
	if err := c.writable(id); err != nil {
		return err
	}
	a, err := c.store.App(ctx, id)
	if err != nil {
		return notFound(id, err)
	}
	if err := c.store.DeleteApp(ctx, id); err != nil {
		return notFound(id, err)
	}
	if c.json {
		return json.NewEncoder(c.stdout).Encode(map[string]any{"deleted": id})
	}
	fmt.Fprintf(c.stdout, "Deleted app %s (%s). Running servers close its connections within 2 seconds.\n", id, a.Name)
	return nil
}

func (c *appsCmd) list(ctx context.Context) error {
	stored, err := c.store.Apps(ctx)
	if err != nil {
		return err
	}
	var all []*apps.App
	for _, a := range c.cfg.Apps {
		all = append(all, c.configApp(a.ID))
	}
	all = append(all, stored...)
	totals, err := c.store.UsageTotals(ctx, today())
	if err != nil {
		return err
	}
	if c.json {
		out := make([]jsonApp, len(all))
		for i, a := range all {
			out[i] = toJSONApp(a, totals[a.ID].Messages)
		}
		return json.NewEncoder(c.stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKEY\tNAME\tSTATUS\tMESSAGES TODAY\tSOURCE")
	for _, a := range all {
		status, source := "enabled", "store"
		if !a.Enabled {
			status = "disabled"
		}
		if a.ReadOnly {
			source = "config (read-only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Key, a.Name, status, usageText(totals[a.ID].Messages, a.DailyMessageQuota), source)
	}
	return tw.Flush()
}

func today() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

func usageText(used, quota int64) string {
	if quota == 0 {
		return strconv.FormatInt(used, 10)
	}
	return strconv.FormatInt(used, 10) + " / " + strconv.FormatInt(quota, 10)
}

// jsonApp is an app as --json prints it: apps.App and today's messages.
type jsonApp struct {
	apps.App
	MessagesToday int64 `json:"messages_today"`
}

func toJSONApp(a *apps.App, messages int64) jsonApp {
	return jsonApp{App: *a, MessagesToday: messages}
}

// print shows an app with what a user pastes into their code.
func (c *appsCmd) print(ctx context.Context, a *apps.App, title string) error {
	totals, err := c.store.UsageTotals(ctx, today())
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(c.stdout).Encode(toJSONApp(a, totals[a.ID].Messages))
	}
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	limit := func(n int64) string {
		if n == 0 {
			return "unlimited"
		}
		return strconv.FormatInt(n, 10)
	}
	w := c.stdout
	fmt.Fprintf(w, "%s %q", title, a.Name)
	if a.ReadOnly {
		fmt.Fprint(w, " (from the config file, read-only)")
	}
	fmt.Fprintf(w, "\n\n  app_id  %s\n  key     %s\n  secret  %s\n\n", a.ID, a.Key, a.Secret)
	fmt.Fprintf(w, "  enabled %s · client events %s · subscription count %s · max connections %s · "+
		"daily quota %s · messages today %d\n\n", onOff(a.Enabled), onOff(a.ClientEvents), onOff(a.SubscriptionCount),
		limit(int64(a.MaxConnections)), limit(a.DailyMessageQuota), totals[a.ID].Messages)
	for _, sn := range snippets.For(snippets.App{ID: a.ID, Key: a.Key, Secret: a.Secret}, clientEndpoint(c.cfg)) {
		fmt.Fprintf(w, "%s:\n%s\n", sn.Name, indent(sn.Code))
	}
	fmt.Fprintf(w, "Environment (pixiu trigger and your app server):\n  PIXIU_APP_ID=%s PIXIU_APP_KEY=%s PIXIU_APP_SECRET=%s\n",
		a.ID, a.Key, a.Secret)
	return nil
}

// indent puts two spaces before each non-empty line of s.
func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s + "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// clientEndpoint is where clients reach the server cfg configures: its
// host (loopback for a wildcard) and port, https/wss with TLS on. With TLS
// the host is the certificate's name (the first ACME domain, or the first
// DNS name of the certificate file), as clients check it.
func clientEndpoint(cfg config.Config) snippets.Endpoint {
	ep := snippets.Endpoint{Host: cfg.Host, Port: cfg.Port, TLS: cfg.TLS.Enabled()}
	if ep.Port == 0 {
		ep.Port = defaultClientPort
	}
	if isWildcardHost(ep.Host) {
		ep.Host = defaultClientHost
		if ep.TLS {
			ep.Host = firstNonEmpty(append(cfg.TLS.ACME.Domains, certName(cfg.TLS.CertFile), ep.Host)...)
		}
	}
	ep.Host = snippets.HostForURL(ep.Host)
	return ep
}

// certName is the first DNS name of the leaf in the PEM file, or "".
func certName(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return ""
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || len(leaf.DNSNames) == 0 {
		return ""
	}
	return leaf.DNSNames[0]
}
