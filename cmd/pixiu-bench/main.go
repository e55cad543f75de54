// Command pixiu-bench is Pixiu's load tool: it measures any Pusher
// Channels-compatible server on loopback. See README.md and internal/loadgen.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pixiu-io/pixiu/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadgen.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
