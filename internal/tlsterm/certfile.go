package tlsterm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// reloadCheck is how often, at most, the files are looked at again (on the
// first handshake after it has passed).
const reloadCheck = time.Second

// certFiles serves a certificate and key from two PEM files and reloads them
// when either file changes (its size, modification time or identity: a
// renewal tool that replaces a symlink counts), so a renewed certificate is
// served without a restart. A new pair that does not load (a half-written
// file, a key that does not match) is logged once and the previous pair
// stays in use; it is tried again when the files change again. Safe for
// concurrent use.
type certFiles struct {
	certPath, keyPath string
	log               *slog.Logger
	now               func() time.Time

	cur atomic.Pointer[tls.Certificate] // the pair served

	mu        sync.Mutex // guards the fields below: one check at a time
	checkedAt time.Time  // when the files were last looked at
	tried     [2]stamp   // the files' stamps at the last load attempt
}

// stamp identifies one version of a file.
type stamp struct {
	info os.FileInfo // nil: could not stat
}

func (s stamp) same(o stamp) bool {
	if s.info == nil || o.info == nil {
		return s.info == nil && o.info == nil
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
}

func statFile(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{info: fi}
}

// newCertFiles loads the pair; an error here is fatal to the start.
func newCertFiles(certPath, keyPath string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, log: log, now: time.Now}
	c.tried = [2]stamp{statFile(certPath), statFile(keyPath)}
	cert, err := loadPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	c.checkedAt = c.now()
	c.logLoaded(cert, "tls: certificate loaded")
	return c, nil
}

func loadPair(certPath, keyPath string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", certPath, keyPath, err)
	}
	if cert.Leaf == nil {
		return nil, errors.New("tls: certificate without a parsed leaf")
	}
	return &cert, nil
}

func (c *certFiles) logLoaded(cert *tls.Certificate, msg string) {
	l := cert.Leaf
	c.log.Info(msg, "file", c.certPath, "subject", l.Subject.String(), "names", l.DNSNames,
		"not_after", l.NotAfter.UTC().Format(time.RFC3339))
	if c.now().After(l.NotAfter) {
		c.log.Warn("tls: the certificate has expired; clients will refuse it", "file", c.certPath,
			"not_after", l.NotAfter.UTC().Format(time.RFC3339))
	}
}

// GetCertificate implements tls.Config.GetCertificate: the current pair,
// reloaded first if the files changed since it was loaded.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.maybeReload()
	return c.cur.Load(), nil
}

// maybeReload looks at the files at most once per reloadCheck and loads
// them when they changed since the last attempt.
func (c *certFiles) maybeReload() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.checkedAt) < reloadCheck {
		return
	}
	c.checkedAt = now
	st := [2]stamp{statFile(c.certPath), statFile(c.keyPath)}
	if st[0].same(c.tried[0]) && st[1].same(c.tried[1]) {
		return
	}
	c.tried = st
	cert, err := loadPair(c.certPath, c.keyPath)
	if err != nil {
		c.log.Error("tls: the changed certificate files do not load; serving the previous certificate", "err", err)
		return
	}
	c.cur.Store(cert)
	c.logLoaded(cert, "tls: certificate reloaded")
}
