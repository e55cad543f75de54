package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/console"
	"github.com/pixiu-io/pixiu/internal/store"
)

const consoleUsage = `usage:
  pixiu console reset-password      [--config FILE] [--password-stdin] [--json]
  pixiu console sign-out-everywhere [--config FILE] [--json]

reset-password sets a new admin password for the web console and signs every
session out, on every node. Without --password-stdin it generates one and
prints it; with it, it reads the password from the first line of stdin (at
least 12 characters). Running servers use the new password at once. It works
on the store of the config (store.path / store.dsn, env PIXIU_STORE_PATH /
PIXIU_STORE_DSN), and refuses when the password comes from console.password
or PIXIU_CONSOLE_PASSWORD: change it there.

sign-out-everywhere ends every console session, on every node.
`

// runConsole runs `pixiu console …`; stdin is read by --password-stdin.
func runConsole(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	group := newCommand("pixiu console", strings.TrimPrefix(consoleUsage, "usage:\n"), stdout, stderr)
	sub, code := group.subcommand(args, "reset-password", "sign-out-everywhere")
	if code >= 0 {
		return code
	}
	synopsis := map[string]string{"reset-password": "reset-password [--config FILE] [--password-stdin] [--json]",
		"sign-out-everywhere": "sign-out-everywhere [--config FILE] [--json]"}[sub]
	cmd := newCommand("pixiu console "+sub, "pixiu console "+synopsis, stdout, stderr)
	fs := cmd.fs
	file := fs.String("config", getenv("PIXIU_CONFIG"), "YAML config file (env PIXIU_CONFIG)")
	fromStdin := false
	if sub == "reset-password" {
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the new password from stdin instead of generating one")
	}
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code := cmd.parse(args[1:], 0); code >= 0 {
		return code
	}
	cfg, err := config.Load(*file, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	if sub == "reset-password" && cfg.Console.Password != "" {
		fmt.Fprintln(stderr, "pixiu console reset-password: the console password is set by console.password or "+
			"PIXIU_CONSOLE_PASSWORD; change it there (a restart signs every session out)")
		return 1
	}
	password := ""
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintln(stderr, "pixiu: read the password from stdin:", err)
			return 1
		}
		if password = strings.TrimRight(line, "\r\n"); password == "" {
			fmt.Fprintln(stderr, "pixiu console reset-password: no password on stdin")
			return 1
		}
	}
	if err := storeMissing(cfg); err != nil {
		fmt.Fprintf(stderr, "pixiu console %s: %v\n", sub, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Options{Path: cfg.Store.Path, DSN: cfg.Store.DSN,
		Log: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	defer st.Close()
	var out map[string]any
	if sub == "sign-out-everywhere" {
		n, err := console.SignOutEverywhere(ctx, st)
		if err != nil {
			fmt.Fprintln(stderr, "pixiu:", err)
			return 1
		}
		out = map[string]any{"sessions_ended": n}
		if !*asJSON {
			fmt.Fprintf(stdout, "signed out %d console sessions\n", n)
		}
	} else {
		pw, n, err := console.ResetPassword(ctx, st, password)
		if err != nil {
			fmt.Fprintln(stderr, "pixiu:", err)
			return 1
		}
		out = map[string]any{"sessions_ended": n}
		if password == "" {
			out["password"] = pw
		}
		if !*asJSON {
			if password == "" {
				fmt.Fprintf(stdout, "new console password: %s\n", pw)
			} else {
				fmt.Fprintln(stdout, "console password set")
			}
			fmt.Fprintf(stdout, "signed out %d console sessions\n", n)
		}
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return 1
		}
	}
	return 0
}
