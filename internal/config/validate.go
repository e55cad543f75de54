package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// ValidationError names the configuration key that is wrong and, when known,
// the file and line it is on or the environment variable that set it.
type ValidationError struct {
	Field string // key path, e.g. "limits.max_event_bytes" or "apps[0].webhooks[1].url"
	Err   error
	File  string // the config file, when the key is in it
	Line  int    // 1-based; 0 = unknown
	Env   string // the PIXIU_* variable that set the value, if one did
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" && e.Line > 0 {
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	}
	b.WriteString(e.Field)
	if e.Env != "" {
		b.WriteString(" (" + e.Env + ")")
	}
	return b.String() + ": " + e.Err.Error()
}

func (e *ValidationError) Unwrap() error { return e.Err }

// Errors are every problem of a configuration, one per key.
type Errors []*ValidationError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Validate checks every value of the configuration (after ApplyDefaults) and
// returns Errors naming each wrong key, or nil. `pixiu serve` refuses to
// start on what it refuses, and `pixiu config check` reports the same.
func (c *Config) Validate() error {
	v := validator{src: c.src}
	c.validateServer(&v)
	c.validateLimits(&v)
	c.validateParts(&v)
	c.validateTLS(&v)
	c.validateApps(&v)
	if len(v.errs) == 0 {
		return nil
	}
	sort.SliceStable(v.errs, func(i, j int) bool {
		a, b := v.errs[i], v.errs[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line != 0
		}
		return a.Line < b.Line
	})
	return v.errs
}

type validator struct {
	src  *source
	errs Errors
}

// fail records that key is wrong, with its line and variable when known.
func (v *validator) fail(key, format string, args ...any) {
	e := &ValidationError{Field: key, Err: fmt.Errorf(format, args...)}
	if v.src != nil {
		if env := v.envOf(key); env != "" {
			e.Env = env
		} else if line := v.lineOf(key); line > 0 {
			e.File, e.Line = v.src.file, line
		}
	}
	v.errs = append(v.errs, e)
}

// envOf is the variable that set key or a parent of it, if one did.
func (v *validator) envOf(key string) string {
	for key != "" {
		if env, ok := v.src.env[key]; ok {
			return env
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return ""
		}
		key = key[:i]
	}
	return ""
}

// lineOf is the line of key or, failing that, of its nearest parent in the
// file (an app's settings error names the app's line when the setting took
// its default).
func (v *validator) lineOf(key string) int {
	for key != "" {
		if line, ok := v.src.lines[key]; ok {
			return line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

func (v *validator) nonNegative(key string, n int64) {
	if n < 0 {
		v.fail(key, "must not be negative (0 means the default), not %d", n)
	}
}

func (v *validator) duration(key string, d Duration, min time.Duration) {
	switch {
	case d < 0:
		v.fail(key, "must not be negative, not %s", d.D())
	case d.D() < min:
		v.fail(key, "must be at least %s, not %s", min, d.D())
	}
}

// address checks a listen address host:port ("" = off).
func (v *validator) address(key, addr string) {
	if addr == "" {
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		v.fail(key, "want host:port such as 127.0.0.1:9090, not %q", addr)
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

func (c *Config) validateServer(v *validator) {
	if c.Host == "" || strings.ContainsAny(c.Host, " \t/?#@") || strings.Contains(c.Host, "://") {
		v.fail("host", "want an address to listen on such as 0.0.0.0, 127.0.0.1 or ::, not %q", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		v.fail("port", "must be between 1 and 65535 (0: the default, 6001), not %d", c.Port)
	}
	v.duration("activity_timeout", c.ActivityTimeout, time.Second)
	v.duration("pong_timeout", c.PongTimeout, 0)
	v.duration("user_auth_timeout", c.UserAuthTimeout, time.Second)
	v.nonNegative("event_loops", int64(c.EventLoops))
	v.address("pprof_addr", c.PprofAddr)
	v.address("admin_addr", c.AdminAddr)
	if c.AdminAddr != "" && c.PprofAddr != "" {
		v.fail("pprof_addr", "not with admin_addr, which serves pprof itself")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log_level", "want debug, info, warn or error, not %q", c.LogLevel)
	}
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		v.fail("log_format", "want text or json, not %q", c.LogFormat)
	}
}

func (c *Config) validateLimits(v *validator) {
	l := reflect.ValueOf(c.Limits)
	eachLeaf(l.Type(), "limits", func(key string, index []int) {
		f := l.FieldByIndex(index)
		switch {
		case f.Type() == reflect.TypeFor[Duration]():
			v.duration(key, Duration(f.Int()), 0)
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			v.nonNegative(key, f.Int())
		}
	})
}

func (c *Config) validateParts(v *validator) {
	if c.Store.Path == "" && c.Store.DSN == "" {
		v.fail("store.path", "must not be empty")
	}
	if c.Store.DSN != "" && !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://") &&
		!strings.Contains(c.Store.DSN, "=") {
		v.fail("store.dsn", "want a PostgreSQL URL (postgres://user:password@host:5432/db) or key=value DSN")
	}
	for i, p := range c.Console.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				v.fail("console.trusted_proxies["+strconv.Itoa(i)+"]", "%q is neither an IP address nor a CIDR prefix", p)
			}
		}
	}
	cl := c.Cluster
	// cluster.redis, cluster.sentinel.{addrs,master,password},
	// cluster.redis_cluster.addrs, cluster.{username,password,db,tls}: one
	// form, parsed as the server will (redis.go).
	cl.redisOptions(v)
	v.nonNegative("cluster.db", int64(cl.DB))
	if strings.ContainsAny(cl.NodeID, " \t\r\n") {
		v.fail("cluster.node_id", "must not contain spaces")
	}
	v.duration("cluster.lease_ttl", cl.LeaseTTL, 0)
	v.duration("cluster.drain_window", cl.DrainWindow, 0)
	w := c.Webhooks
	v.duration("webhooks.timeout", w.Timeout, 0)
	v.duration("webhooks.retry_horizon", w.RetryHorizon, 0)
	v.duration("webhooks.batch_interval", w.BatchInterval, 0)
	// vacate_delay may be negative: no delay at all (0 is the default, 3s).
	v.duration("webhooks.dead_letter_retention", w.DeadLetterRetention, 0)
	v.nonNegative("webhooks.batch_max", int64(w.BatchMax))
	v.nonNegative("webhooks.max_outbox_events", w.MaxOutboxEvents)
}

func (c *Config) validateApps(v *validator) {
	seenID, seenKey := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		f := "apps[" + strconv.Itoa(i) + "]"
		switch {
		case a.ID == "" || a.Key == "" || a.Secret == "":
			v.fail(f, "id, key and secret are required")
		case strings.ContainsAny(a.ID+a.Key, "/?#: "):
			v.fail(f, "id and key may not contain / ? # : or spaces")
		case seenID[a.ID]:
			v.fail(f+".id", "duplicate id %q", a.ID)
		case seenKey[a.Key]:
			v.fail(f+".key", "duplicate key %q", a.Key)
		}
		seenID[a.ID], seenKey[a.Key] = true, true
		var fe apps.FieldErrors
		if err := a.Validate(); errors.As(err, &fe) {
			for _, k := range fe.Keys() {
				v.fail(f+"."+k, "%s", fe[k])
			}
		}
	}
}

// validateTLS checks tls.*: a certificate and key that load as a pair, or
// ACME settings, never both.
func (c *Config) validateTLS(v *validator) {
	t := c.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.fail("tls.key_file", "required with tls.cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		v.fail("tls.cert_file", "required with tls.key_file")
	case t.CertFile != "":
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.fail("tls.cert_file", "certificate and key do not load as a pair: %v", err)
		}
	}
	a := t.ACME
	if len(a.Domains) == 0 {
		if a.Email != "" || a.CAFile != "" || (a.DirectoryURL != "" && a.DirectoryURL != LetsEncryptURL) {
			v.fail("tls.acme.domains", "required with the other tls.acme settings")
		}
		return
	}
	if t.CertFile != "" || t.KeyFile != "" {
		v.fail("tls.acme.domains", "not with tls.cert_file/tls.key_file: choose certificate files or ACME")
	}
	for i, d := range a.Domains {
		if !validDomain(d) {
			v.fail("tls.acme.domains["+strconv.Itoa(i)+"]", "want a host name such as push.example.com (no wildcard, address or port), not %q", d)
		}
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		v.fail("tls.acme.email", "want an e-mail address, not %q", a.Email)
	}
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		v.fail("tls.acme.directory_url", "want an https:// ACME directory URL, not %q", a.DirectoryURL)
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pem) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			v.fail("tls.acme.ca_file", "%v", err)
		}
	}
}

// validDomain reports whether d is a DNS host name an ACME CA can issue for.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || net.ParseIP(d) != nil || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
