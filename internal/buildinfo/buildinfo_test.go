package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for name, tc := range map[string]struct {
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		"injected wins over vcs": {"v1.2.3", "deadbeef", "2026-12-06T21:00:00Z", vcs,
			Info{Version: "v1.2.3", Commit: "deadbeef", Date: "2026-12-06T21:00:00Z", Injected: true}},
		"plain go build in a checkout": {"", "", "", vcs,
			Info{Version: "dev", Commit: "abc123-dirty", Date: "2026-12-01T10:00:00Z"}},
		"no record at all": {"", "", "", nil,
			Info{Version: "dev", Commit: Unknown, Date: Unknown}},
		"only a version injected": {"v1.0.0", "", "", &debug.BuildInfo{},
			Info{Version: "v1.0.0", Commit: Unknown, Date: Unknown}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.want.GoVersion = runtime.Version()
			if got := resolve(tc.version, tc.commit, tc.date, tc.bi); got != tc.want {
				t.Fatalf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGetWithoutLdflags(t *testing.T) {
	t.Parallel()
	in := Get()
	if in.Version != "dev" || in.Injected || in.Commit == "" || in.Date == "" || in.GoVersion != runtime.Version() {
		t.Fatalf("Get() in a test binary = %+v, want version dev, not injected", in)
	}
}
