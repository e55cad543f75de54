// Command pixiu is a self-hosted realtime push server speaking the Pusher
// Channels protocol. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// Mozilla's root certificates, used only where the system has none
	// (the FROM-scratch container image): webhooks to https URLs and
	// rediss:// need them.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/pixiu-io/pixiu/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
