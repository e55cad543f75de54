// Package cli implements the pixiu command: flag parsing, logger setup and
// subcommands. Subcommands return exit codes; only cmd/pixiu calls os.Exit.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const usage = `pixiu — a self-hosted realtime push server speaking the Pusher Channels protocol

Usage:
  pixiu serve [--config FILE] [--host H] [--port P] [--demo=false] [--dev-app=false] [--cluster URL]
  pixiu trigger --channel C --event E --data JSON [--app-id … --key … --secret …]
  pixiu channels [--prefix P] [--info user_count]
  pixiu users --channel presence-…
  pixiu history --channel C [--limit N] [--since ID]
  pixiu webhooks status | dead-letters [--app ID] [--json] | replay (ID ... | --all) | purge [--app ID] [--older-than D]
  pixiu apps create NAME | list | show ID | update ID --flag… | rotate-secret ID | delete ID
  pixiu console reset-password [--password-stdin] | sign-out-everywhere
  pixiu config check FILE | pixiu config default
  pixiu health [--ready] [--addr HOST:PORT]
  pixiu version [--json]

-h/--help on any command prints its usage; a wrong flag or argument exits 2.
`

// Main runs the pixiu command with args (without the program name).
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "\nRun 'pixiu COMMAND --help' for a command's flags.")
		return 2
	}
	rest := args[1:]
	switch args[0] {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "trigger":
		return runTrigger(ctx, rest, getenv, stdout, stderr)
	case "channels":
		return runChannels(ctx, rest, getenv, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, getenv, stdout, stderr)
	case "history":
		return runHistory(ctx, rest, getenv, stdout, stderr)
	case "webhooks":
		return runWebhooks(ctx, rest, getenv, stdout, stderr)
	case "config":
		return runConfig(rest, getenv, stdout, stderr)
	case "apps":
		return runApps(ctx, rest, getenv, stdout, stderr)
	case "console":
		return runConsole(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case "health":
		return runHealth(ctx, rest, getenv, stdout, stderr)
	case "version", "--version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nRun 'pixiu COMMAND --help' for a command's flags.")
		return 0
	}
	fmt.Fprintf(stderr, "pixiu: unknown command %q\nRun 'pixiu --help' for usage.\n", args[0])
	return 2
}

// newLogger builds the process logger from the configured level and format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
