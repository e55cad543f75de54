package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/apps"
)

func TestWarnPublicSecret(t *testing.T) {
	t.Parallel()
	dev := devApp()
	own := &apps.App{ID: "1234567", Key: "k", Secret: "s", Settings: apps.Settings{Enabled: true}}
	off := *dev
	off.Enabled = false
	cases := []struct {
		host string
		list []*apps.App
		warn bool
	}{
		{"0.0.0.0", []*apps.App{dev}, true},
		{"", []*apps.App{dev}, true},
		{"192.0.2.7", []*apps.App{own, dev}, true},
		{"::", []*apps.App{dev}, true},
		{"127.0.0.1", []*apps.App{dev}, false},
		{"::1", []*apps.App{dev}, false},
		{"localhost", []*apps.App{dev}, false},
		{"0.0.0.0", []*apps.App{own}, false},
		{"0.0.0.0", []*apps.App{&off}, false},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		warnPublicSecret(slog.New(slog.NewTextHandler(&buf, nil)), tc.host, tc.list)
		got := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "well-known development secret")
		if got != tc.warn {
			t.Errorf("host %q, apps %d: warned=%v, want %v: %s", tc.host, len(tc.list), got, tc.warn, buf.String())
		}
	}
}
