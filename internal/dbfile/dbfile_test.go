package dbfile_test

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/dbfile"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestPrepareCreatesPrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "pixiu.db")
	if err := dbfile.Prepare(path, nil); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Dir(path)); m != 0o700 {
		t.Fatalf("directory %v, want 0700", m)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("file %v, want 0600", m)
	}
}

func TestPrepareTightensExisting(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pixiu.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	if err := dbfile.Prepare(path, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(t, p); m != 0o600 {
			t.Fatalf("%s: %v, want 0600", p, m)
		}
		if !strings.Contains(logs.String(), "file="+p+" ") {
			t.Fatalf("no log line for %s:\n%s", p, logs.String())
		}
	}
	logs.Reset()
	if err := dbfile.Prepare(path, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || logs.Len() != 0 {
		t.Fatalf("second Prepare: %v, logs %q", err, logs.String())
	}
}
