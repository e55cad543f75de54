package cli

import (
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
)

// runConfig runs `pixiu config check FILE` and `pixiu config default`.
func runConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pixiu config check FILE | pixiu config default")
		return 2
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: pixiu config check FILE")
			return 2
		}
		cfg, err := config.Load(args[1], nil)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			fmt.Fprintln(stderr, "pixiu:", err)
			return 1
		}
		fmt.Fprintln(stdout, "ok:", len(cfg.Apps), "apps")
		return 0
	case "default":
		cfg, _ := config.Load("", nil)
		cfg.Apps = []apps.App{config.DefaultApp()}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "pixiu:", err)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	}
	fmt.Fprintf(stderr, "pixiu config: unknown subcommand %q\n", args[0])
	return 2
}
