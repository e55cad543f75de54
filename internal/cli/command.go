package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/pixiu-io/pixiu/internal/config"
)

// command is one (sub)command's flags with the behaviour every pixiu
// command shares: -h, --help and "help" print the usage to stdout and exit 0;
// a usage error prints one line and a hint to stderr and exits 2.
type command struct {
	name     string // "pixiu serve"
	synopsis string // the usage text after "usage: ", may span lines
	fs       *flag.FlagSet
	stdout   io.Writer
	stderr   io.Writer
}

func newCommand(name, synopsis string, stdout, stderr io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by parse
	fs.Usage = func() {}
	return &command{name: name, synopsis: synopsis, fs: fs, stdout: stdout, stderr: stderr}
}

// usage prints the usage and the flags to w.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n", strings.TrimRight(c.synopsis, "\n"))
	n := 0
	c.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(io.Discard)
	}
}

// fail reports a usage error: one line and the hint. It returns 2.
func (c *command) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\nRun '%s --help' for usage.\n", c.name, fmt.Sprintf(format, args...), c.name)
	return 2
}

// subcommand returns the subcommand args name for a command group with
// the given subcommands, and -1; or the exit code after printing the
// group's usage for --help (0) or a usage error (2).
func (c *command) subcommand(args []string, names ...string) (string, int) {
	switch {
	case len(args) == 0:
		return "", c.fail("give a subcommand: %s", strings.Join(names, ", "))
	case helpAsked(args[:1]):
		c.usage(c.stdout)
		return "", 0
	}
	for _, n := range names {
		if args[0] == n {
			return n, -1
		}
	}
	return "", c.fail("unknown subcommand %q (want %s)", args[0], strings.Join(names, ", "))
}

// storeMissing reports a SQLite store file that does not exist: commands
// that work on the store say so instead of creating an empty one.
func storeMissing(cfg config.Config) error {
	if cfg.Store.DSN != "" {
		return nil
	}
	if _, err := os.Stat(cfg.Store.Path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no store at %s: start 'pixiu serve' once to create it, or point --config, "+
			"store.path or PIXIU_STORE_PATH at the server's store", cfg.Store.Path)
	}
	return nil
}

// helpAsked reports whether args ask for help (-h, --help, -help, help).
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "--help", "-help", "help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// parse parses args, flags anywhere among the positional arguments
// ("create NAME --quota 5"). It returns the positional arguments and -1 to
// go on, or the exit code: 0 after printing the usage for --help, 2 after a
// usage error. want is the number of positional arguments (-1: any).
func (c *command) parse(args []string, want int) ([]string, int) {
	if helpAsked(args) {
		c.usage(c.stdout)
		return nil, 0
	}
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, c.fail("%s", flagProblem(err))
		}
		if args = c.fs.Args(); len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case want == 0 && len(pos) > 0:
		return nil, c.fail("unexpected argument %q", pos[0])
	case want > 0 && len(pos) != want:
		return nil, c.fail("want %d argument(s), got %d", want, len(pos))
	}
	return pos, -1
}

// flagProblem rewords the flag package's errors for people.
func flagProblem(err error) string {
	msg := err.Error()
	for _, r := range [][2]string{
		{"flag provided but not defined: -", "unknown flag --"},
		{"flag needs an argument: -", "flag needs a value: --"},
		{"invalid boolean value ", "invalid value "},
		{" for flag -", " for -"},
		{" for -", " for --"},
		{": parse error", ""},
	} {
		msg = strings.Replace(msg, r[0], r[1], 1)
	}
	return msg
}

// boolFlag is a flag that takes true or false ("--demo=false" or
// "--demo false"); nil until given.
type boolFlag struct{ v *bool }

func (b *boolFlag) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, not %q", s)
	}
	b.v = &v
	return nil
}

// reportConfigError prints a configuration error, one line per problem.
func reportConfigError(stderr io.Writer, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(stderr, "pixiu:", e)
		}
		return
	}
	fmt.Fprintln(stderr, "pixiu:", err)
}
