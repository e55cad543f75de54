package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/cli"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// noApps starts with an empty config file and the given store.
func noApps(storePath string) func(*config.Config) {
	return func(c *config.Config) {
		c.Apps = nil
		c.Store.Path = storePath
	}
}

// pixiuApps runs `pixiu apps …` on the store at path and returns the exit
// code and stdout.
func pixiuApps(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"PIXIU_STORE_PATH": path}
	code := cli.Main(context.Background(), append([]string{"apps"}, args...), func(k string) string { return env[k] }, &out, &errb)
	if code != 0 {
		t.Logf("pixiu apps %v: %d %s", args, code, errb.String())
	}
	return code, out.String()
}

// closedWith dials key and returns the close code the server answers with,
// or 0 when the connection is established.
func closedWith(t *testing.T, addr, key string) int {
	t.Helper()
	c := pixiutest.DialRaw(t, "ws://"+addr+"/app/"+key+"?protocol=7")
	if e := c.Next(); e.Event == "pusher:connection_established" {
		return 0
	}
	return c.WaitClosed()
}

func TestDevAppOnlyWhileNoOtherApp(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	s := pixiutest.Start(t, noApps(path))
	a, err := s.Apps().ByID("app-id")
	if err != nil || a.Key != "app-key" || a.Secret != "app-secret" || a.ReadOnly {
		t.Fatalf("no apps anywhere: development app %+v, %v; want a stored (writable) app-id", a, err)
	}
	if code := closedWith(t, s.Addr, "app-key"); code != 0 {
		t.Fatalf("development app refused with %d", code)
	}
	// The user creates an app: the development app goes away, live.
	if code, _ := pixiuApps(t, path, "create", "Mine"); code != 0 {
		t.Fatal("create failed")
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if _, err := s.Apps().ByID("app-id"); err == nil {
			return errorf("the development app is still served beside the user's app")
		}
		return nil
	})
	if code := closedWith(t, s.Addr, "app-key"); code != 4001 {
		t.Fatalf("development app after another app exists: close %d, want 4001", code)
	}
	if _, out := pixiuApps(t, path, "list", "--json"); strings.Contains(out, `"app-id"`) {
		t.Fatalf("the development app is still in the store: %s", out)
	}

	// A store that holds apps (or a config file that lists some) gets no development app.
	withStore := pixiutest.Start(t, noApps(path))
	if _, err := withStore.Apps().ByID("app-id"); err == nil {
		t.Fatal("development app added although the store holds an app")
	}
	withConfig := pixiutest.Start(t, ownApp)
	if _, err := withConfig.Apps().ByID("app-id"); err == nil {
		t.Fatal("development app added although the config file lists an app")
	}
}

func TestDevAppIsAnOrdinaryApp(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	s := pixiutest.Start(t, noApps(path))
	live := pixiutest.Dial(t, s.Addr, "app-key")

	if code, _ := pixiuApps(t, path, "update", "app-id", "--enabled=false"); code != 0 {
		t.Fatal("disable failed")
	}
	if got := live.WaitClosed(); got != 4003 {
		t.Fatalf("disabled development app: open connection closed with %d, want 4003", got)
	}
	if code, _ := pixiuApps(t, path, "update", "app-id", "--enabled=true"); code != 0 {
		t.Fatal("enable failed")
	}
	code, out := pixiuApps(t, path, "rotate-secret", "app-id", "--json")
	var rotated struct{ Secret string }
	if code != 0 || json.Unmarshal([]byte(out), &rotated) != nil || rotated.Secret == "app-secret" {
		t.Fatalf("rotate-secret: %d %s", code, out)
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if a, err := s.Apps().ByID("app-id"); err != nil || a.Secret != rotated.Secret || !a.Enabled {
			return errorf("server has %+v, %v; want the rotated, enabled app", a, err)
		}
		return nil
	})
	old := &pixiutest.REST{Addr: s.Addr, ID: "app-id", Key: "app-key", Secret: "app-secret"}
	if st, _ := old.Do(t, "GET", "/apps/app-id/channels", "", nil); st != 401 {
		t.Fatalf("REST with the well-known secret after rotation: %d, want 401", st)
	}
	fresh := &pixiutest.REST{Addr: s.Addr, ID: "app-id", Key: "app-key", Secret: rotated.Secret}
	if st, body := fresh.Do(t, "GET", "/apps/app-id/channels", "", nil); st != 200 {
		t.Fatalf("REST with the new secret: %d %s", st, body)
	}
	if code, _ := pixiuApps(t, path, "delete", "app-id"); code != 0 {
		t.Fatal("delete failed")
	}
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		if _, err := s.Apps().ByID("app-id"); err == nil {
			return errorf("deleted development app still served")
		}
		return nil
	})
}

func TestDevAppSwitchOff(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	pixiutest.Start(t, noApps(path)).Close() // stores the development app
	off := pixiutest.Start(t, func(c *config.Config) {
		noApps(path)(c)
		f := false
		c.DevApp = &f
	})
	if _, err := off.Apps().ByID("app-id"); err == nil {
		t.Fatal("dev_app: false still serves the development app")
	}
	if _, out := pixiuApps(t, path, "list", "--json"); strings.Contains(out, `"app-id"`) {
		t.Fatalf("dev_app: false left the development app in the store: %s", out)
	}
}
