package store

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func perm(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestSQLiteFilesPrivate: the database, -wal and -shm files hold the
// console's session key and the apps' secrets: 0600 in a 0700 directory,
// whatever the umask; an existing store with looser modes is tightened on
// open, with a log line.
func TestSQLiteFilesPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "pixiu.db")
	s := mustOpen(t, Options{Path: path})
	if _, err := s.CreateApp(context.Background(), settings("one")); err != nil { // the WAL exists once written
		t.Fatal(err)
	}
	if m := perm(t, dir); m != 0o700 {
		t.Fatalf("directory %v, want 0700", m)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := perm(t, p); m != 0o600 {
			t.Fatalf("%s: %v, want 0600", filepath.Base(p), m)
		}
	}
	s.Close()

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	s = mustOpen(t, Options{Path: path, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if list, err := s.Apps(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("reopened store: %v %v", list, err)
	}
	if m := perm(t, path); m != 0o600 {
		t.Fatalf("existing file left %v", m)
	}
	if !strings.Contains(logs.String(), "tightened") {
		t.Fatalf("no log line for the tightened file:\n%s", logs.String())
	}
}
