package loadgen

import (
	"context"
	"errors"
	"testing"
)

func TestResolveTargetRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"ws://10.0.0.1:6001",
		"10.0.0.1:6001",
		"http://example.com:6001",
		"ws://example.com",
		"ws://[2001:db8::1]:6001",
		"ws://0.0.0.0:6001",
	} {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			_, err := ResolveTarget(context.Background(), raw)
			if !errors.Is(err, ErrNotLoopback) {
				t.Fatalf("ResolveTarget(%q) = %v, want ErrNotLoopback", raw, err)
			}
		})
	}
}

func TestResolveTargetAcceptsLoopback(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"ws://127.0.0.1:6001": "127.0.0.1:6001",
		"127.0.0.9:6101":      "127.0.0.9:6101",
		"http://127.1.2.3:80": "127.1.2.3:80",
		"ws://[::1]:6001":     "[::1]:6001",
		"ws://localhost:6001": "127.0.0.1:6001",
	} {
		tg, err := ResolveTarget(context.Background(), raw)
		if err != nil {
			t.Errorf("ResolveTarget(%q): %v", raw, err)
			continue
		}
		if got := tg.Addr(); got != want && !(raw == "ws://localhost:6001" && got == "[::1]:6001") {
			t.Errorf("ResolveTarget(%q) = %s, want %s", raw, got, want)
		}
	}
}

func TestResolveTargetRejectsTLSAndGarbage(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"wss://127.0.0.1:6001", "https://127.0.0.1", "ws://127.0.0.1:99999", "ws://:6001"} {
		if _, err := ResolveTarget(context.Background(), raw); err == nil {
			t.Errorf("ResolveTarget(%q) accepted", raw)
		}
	}
}

func TestMainRefusesRemoteTarget(t *testing.T) {
	t.Parallel()
	var out, errOut stringsBuilder
	code := Main(context.Background(), []string{"publish", "--url", "ws://10.0.0.1:6001", "--duration", "1s"}, &out, &errOut)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, errOut.String())
	}
}
