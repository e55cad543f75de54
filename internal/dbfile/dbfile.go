// Package dbfile keeps the embedded store's SQLite files private: the
// database holds app secrets, the console's password hash and its session
// key, so reading it is enough to forge a console session. Prepare creates
// the directory 0700 and the file 0600 before SQLite opens it (SQLite gives
// the -wal and -shm files the database file's mode) and tightens the files
// of an existing store.
package dbfile

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Modes of what Prepare creates.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Prepare makes the SQLite database at path private before it is opened:
// it creates the missing directories (0700) and the file (0600), and sets
// the database, -wal and -shm files to 0600 when group or others may read
// them, logging each change on log (nil: no log). An existing directory
// keeps its mode: it may be shared (e.g. /tmp), and the files are private.
func Prepare(path string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("dbfile: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return fmt.Errorf("dbfile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dbfile: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&^FileMode == 0 {
			continue // absent, or private already
		}
		if err := os.Chmod(p, FileMode); err != nil {
			return fmt.Errorf("dbfile: %w", err)
		}
		log.Warn("tightened the store file's permissions: it holds secrets", "file", p,
			"was", fi.Mode().Perm().String(), "now", FileMode.String())
	}
	return nil
}
