// Package buildinfo says which build of pixiu is running: the version,
// commit and build date the release build injects with -ldflags (see the
// Makefile's LDFLAGS), else what the Go toolchain recorded in the binary
// (debug.ReadBuildInfo: the VCS revision and time of a `go build` in a
// checkout), else "dev"/"unknown".
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the linker only (go build -ldflags "-X …"); never assigned by code.
// They are variables because -X can set nothing else.
var (
	version string // e.g. "v0.2.0" or "dev"
	commit  string // full VCS revision
	date    string // RFC 3339 UTC build time
)

// Unknown is what a field says when neither the linker nor the toolchain
// recorded it.
const Unknown = "unknown"

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`    // injected version, else "dev"
	Commit    string `json:"commit"`     // VCS revision (with "-dirty" for modified trees), else "unknown"
	Date      string `json:"build_date"` // injected build time, else the commit time, else "unknown"
	GoVersion string `json:"go_version"` // the toolchain that built it
	Injected  bool   `json:"injected"`   // version, commit and date came from -ldflags
}

// Get returns the build information of the running binary. It is cheap
// enough to call per request but callers such as a metrics gauge may keep
// the result: it never changes while the process runs.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve combines the linker values with the toolchain's record bi (nil
// when the binary has none).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Injected: version != "" && commit != "" && date != ""}
	var rev, at string
	modified := false
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	if in.Commit == "" {
		in.Commit = Unknown
		if rev != "" {
			in.Commit = rev
			if modified {
				in.Commit += "-dirty"
			}
		}
	}
	if in.Date == "" {
		in.Date = Unknown
		if at != "" {
			in.Date = at
		}
	}
	return in
}
