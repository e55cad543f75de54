package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/pixiu-io/pixiu/internal/buildinfo"
)

// runVersion runs `pixiu version [--json]`: the version, commit and build
// date injected by `make build` (buildinfo.Get), one line or a JSON object.
func runVersion(args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("pixiu version", "pixiu version [--json]", stdout, stderr)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	if _, code := cmd.parse(args, 0); code >= 0 {
		return code
	}
	in := buildinfo.Get()
	if *asJSON {
		b, err := json.Marshal(in)
		if err != nil {
			fmt.Fprintln(stderr, "pixiu version:", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "pixiu %s (commit %s, built %s, %s)\n", in.Version, in.Commit, in.Date, in.GoVersion)
	return 0
}
