package cli

import (
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
)

const configSynopsis = `pixiu config check FILE | pixiu config default

  check FILE   load FILE and the PIXIU_* environment exactly as 'pixiu serve'
               does and report every problem (unknown keys with their line,
               each wrong value with its key); exit 1 if there is one
  default      print the configuration serve uses when nothing is set`

// runConfig runs `pixiu config check FILE` and `pixiu config default`.
func runConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	top := newCommand("pixiu config", configSynopsis, stdout, stderr)
	if len(args) == 0 {
		return top.fail("give a subcommand: check or default")
	}
	if helpAsked(args[:1]) {
		top.usage(stdout)
		return 0
	}
	switch args[0] {
	case "check":
		c := newCommand("pixiu config check", "pixiu config check FILE\n\n"+
			"Loads FILE and the PIXIU_* environment exactly as 'pixiu serve' does and reports\n"+
			"every problem; exit 0 when serve would start with it, else 1.", stdout, stderr)
		pos, code := c.parse(args[1:], 1)
		if code >= 0 {
			return code
		}
		cfg, err := loadConfig(pos[0], getenv)
		if err != nil {
			reportConfigError(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "ok: %s: %d apps\n", pos[0], len(cfg.Apps))
		return 0
	case "default":
		c := newCommand("pixiu config default", "pixiu config default\n\n"+
			"Prints the configuration 'pixiu serve' uses when no file, variable or flag sets anything.", stdout, stderr)
		if _, code := c.parse(args[1:], 0); code >= 0 {
			return code
		}
		return printDefaults(stdout, stderr)
	}
	return top.fail("unknown subcommand %q", args[0])
}

// loadConfig loads and validates the configuration of file and the
// environment: what `pixiu serve` and `pixiu config check` both do.
func loadConfig(file string, getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(file, getenv)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// printDefaults prints the effective defaults, and an app with its
// default settings as a commented example.
func printDefaults(stdout, stderr io.Writer) int {
	cfg, err := config.Load("", nil)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	cfg.Apps = []apps.App{}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	example := apps.App{ID: "my-app", Key: "my-key", Secret: "my-secret", Settings: apps.Defaults()}
	example.Name = "My app"
	ex, err := yaml.Marshal([]apps.App{example})
	if err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	_, _ = stdout.Write(b)
	fmt.Fprintln(stdout, "# An app of the file, with its default settings (the development app is stored")
	fmt.Fprintln(stdout, "# in the store when no app exists anywhere; see dev_app):")
	fmt.Fprintln(stdout, "# apps:")
	for _, line := range strings.Split(strings.TrimRight(string(ex), "\n"), "\n") {
		fmt.Fprintln(stdout, "#   "+line)
	}
	return 0
}
