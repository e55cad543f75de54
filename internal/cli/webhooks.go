package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/webhook"
)

const webhooksUsage = `usage:
  pixiu webhooks status       [--config FILE] [--store PATH] [--json]
  pixiu webhooks dead-letters [--config FILE] [--store PATH] [--app ID] [--limit N] [--json]
  pixiu webhooks replay       [--config FILE] [--store PATH] [--app ID] (ID ... | --all) [--json]
  pixiu webhooks purge        [--config FILE] [--store PATH] [--app ID] [--older-than DURATION] [--json]

purge deletes dead letters: all of them, or those of --app, or those dead for
longer than --older-than (e.g. 72h). A running server also deletes them by
itself after webhooks.dead_letter_retention (default 7 days).

The commands open the webhook outbox in the store file (store.path, env
PIXIU_STORE_PATH, default pixiu-data/pixiu.db) and may run while the server
does: a running server picks replayed batches up within a few seconds.
`

// runWebhooks runs `pixiu webhooks …`: outbox status, dead letters, replay.
func runWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	group := newCommand("pixiu webhooks", strings.TrimPrefix(webhooksUsage, "usage:\n"), stdout, stderr)
	sub, code := group.subcommand(args, "status", "dead-letters", "replay", "purge")
	if code >= 0 {
		return code
	}
	synopsis := map[string]string{"status": "status [--config FILE] [--store PATH] [--json]",
		"dead-letters": "dead-letters [--config FILE] [--store PATH] [--app ID] [--limit N] [--json]",
		"replay":       "replay [--config FILE] [--store PATH] [--app ID] (ID ... | --all) [--json]",
		"purge":        "purge [--config FILE] [--store PATH] [--app ID] [--older-than DURATION] [--json]"}[sub]
	cmd := newCommand("pixiu webhooks "+sub, "pixiu webhooks "+synopsis, stdout, stderr)
	fs := cmd.fs
	file := fs.String("config", getenv("PIXIU_CONFIG"), "YAML config file to read store.path from (env PIXIU_CONFIG)")
	store := fs.String("store", "", "store file (default: the config's store.path)")
	appID := fs.String("app", "", "only this app's dead letters")
	limit := fs.Int("limit", 100, "dead-letters: list at most this many (0 = all)")
	asJSON := fs.Bool("json", false, "print JSON (dead-letters: one object per line, with the body)")
	all := fs.Bool("all", false, "replay: every dead letter (of --app if given)")
	olderThan := fs.Duration("older-than", 0, "purge: only dead letters dead for longer than this (e.g. 72h)")
	ids, code := cmd.parse(args[1:], -1)
	if code >= 0 {
		return code
	}
	if *olderThan < 0 {
		return cmd.fail("--older-than must not be negative")
	}
	if sub != "replay" && len(ids) > 0 {
		return cmd.fail("unexpected argument %q", ids[0])
	}
	if sub == "replay" && *all == (len(ids) > 0) {
		return cmd.fail("give batch ids or --all")
	}
	out, err := openOutbox(*file, *store, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	defer out.Close()
	switch sub {
	case "status":
		err = webhookStatus(ctx, out, *asJSON, stdout)
	case "dead-letters":
		err = deadLetters(ctx, out, webhook.Filter{AppID: *appID, Limit: *limit}, *asJSON, stdout)
	case "replay":
		if *all {
			ids = nil // every dead letter (an empty, non-nil list selects none)
		}
		err = replay(ctx, out, webhook.Filter{AppID: *appID, IDs: ids}, *asJSON, stdout)
	case "purge":
		f := webhook.Filter{AppID: *appID}
		if *olderThan > 0 {
			f.DeadBefore = time.Now().Add(-*olderThan)
		}
		err = purge(ctx, out, f, *asJSON, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	return 0
}

func openOutbox(file, store string, getenv func(string) string, stderr io.Writer) (*webhook.SQLite, error) {
	if store == "" {
		cfg, err := config.Load(file, getenv)
		if err != nil {
			return nil, err
		}
		store = cfg.Store.Path
	}
	if err := storeMissing(config.Config{Store: config.Store{Path: store}}); err != nil {
		return nil, err
	}
	return webhook.OpenSQLite(store, slog.New(slog.NewTextHandler(stderr, nil)))
}

func webhookStatus(ctx context.Context, out *webhook.SQLite, asJSON bool, stdout io.Writer) error {
	n, err := out.Counts(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]int{"unsealed_events": n.Unsealed,
			"pending_batches": n.Pending, "dead_letters": n.Dead})
	}
	fmt.Fprintf(stdout, "unsealed events: %d\npending batches: %d\ndead letters:    %d\n", n.Unsealed, n.Pending, n.Dead)
	return nil
}

func deadLetters(ctx context.Context, out *webhook.SQLite, f webhook.Filter, asJSON bool, stdout io.Writer) error {
	list, err := out.DeadLetters(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, b := range list {
			err := enc.Encode(map[string]any{"id": b.ID, "app_id": b.AppID, "url": b.URL, "events": b.Events,
				"attempts": b.Attempts, "created": b.Created.UTC(), "dead_since": b.Updated.UTC(),
				"last_error": b.LastError, "body": string(b.Body)})
			if err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tURL\tEVENTS\tATTEMPTS\tDEAD SINCE\tLAST ERROR")
	for _, b := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.ID, b.AppID, b.URL, b.Events, b.Attempts,
			b.Updated.UTC().Format(time.DateTime), b.LastError)
	}
	return tw.Flush()
}

func replay(ctx context.Context, out *webhook.SQLite, f webhook.Filter, asJSON bool, stdout io.Writer) error {
	n, err := out.Replay(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		err = json.NewEncoder(stdout).Encode(map[string]int{"replayed": n})
	} else {
		_, err = fmt.Fprintf(stdout, "replayed %d batches\n", n)
	}
	if err != nil {
		return err
	}
	if f.IDs != nil && n < len(f.IDs) {
		return fmt.Errorf("%d of the %d ids are not dead letters", len(f.IDs)-n, len(f.IDs))
	}
	return nil
}

func purge(ctx context.Context, out *webhook.SQLite, f webhook.Filter, asJSON bool, stdout io.Writer) error {
	n, err := out.Purge(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]int{"purged": n})
	}
	_, err = fmt.Fprintf(stdout, "purged %d dead letters\n", n)
	return err
}
