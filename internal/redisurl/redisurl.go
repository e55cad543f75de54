// Package redisurl reads the ways of naming the Redis a cluster engine uses:
// one server (redis://, rediss://, unix://), a primary found through Sentinel
// (redis+sentinel://, rediss+sentinel://) or a Redis Cluster
// (redis+cluster://, rediss+cluster://). Config validation, the server and
// the Redis engine share this one parser; it imports nothing of Pixiu and no
// Redis client, so its Options are plain values.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Mode is how the engine reaches Redis.
type Mode string

// The modes.
const (
	Single   Mode = "single"   // one server (which may have replicas nobody fails over to)
	Sentinel Mode = "sentinel" // the primary Sentinel names for MasterName, followed across failovers
	Cluster  Mode = "cluster"  // a Redis Cluster, reached through any of Addrs
)

// Forms lists the accepted URL forms, for error messages and help.
const Forms = "redis://[user:password@]host:port[/db], rediss://… (TLS), unix://[user:password@]/path/to/socket[?db=N], " +
	"redis+sentinel://[:password@]host:port[,host:port…]/master-name[/db], " +
	"redis+cluster://[:password@]host:port[,host:port…] (TLS: rediss+sentinel://, rediss+cluster://)"

// MaxAddrs bounds the host list of one URL.
const MaxAddrs = 64

// Options are what a URL (or the config file's long form) says: one value
// for every mode.
type Options struct {
	Mode Mode
	// Network is "tcp", or "unix" for a unix:// URL (Single only).
	Network string
	// Addrs are host:port pairs: the server (Single; the socket path for
	// unix), the Sentinels (Sentinel) or the seed nodes (Cluster).
	Addrs []string
	// MasterName is the name Sentinel monitors the primary under (Sentinel only).
	MasterName string
	// Username and Password authenticate to the Redis servers (the primary
	// and replicas under Sentinel, every node of a Cluster).
	Username, Password string
	// SentinelPassword authenticates to the Sentinels themselves, when
	// they require one (Sentinel's requirepass); empty: no AUTH to them.
	SentinelPassword string
	// DB is the database number (0–15 by default; Cluster has only 0).
	DB int
	// TLS connects with TLS (rediss…), verifying the server's certificate
	// against the system roots.
	TLS bool
}

// ErrForm is wrapped by every error of Parse and Validate.
var ErrForm = errors.New("redisurl: not a Redis URL")

// Parse reads one of Forms. Errors wrap ErrForm, never repeat a password and
// list the accepted forms.
func Parse(s string) (Options, error) {
	o, err := parse(s)
	if err != nil {
		return Options{}, fmt.Errorf("%w: %s (want %s)", ErrForm, err, Forms)
	}
	if err := o.check(); err != nil {
		return Options{}, fmt.Errorf("%w: %s (want %s)", ErrForm, err, Forms)
	}
	return o, nil
}

func parse(s string) (Options, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Options{}, errors.New("no scheme")
	}
	var o Options
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		o.Mode = Single
	case "redis+sentinel", "rediss+sentinel":
		o.Mode = Sentinel
	case "redis+cluster", "rediss+cluster":
		o.Mode = Cluster
	default:
		return Options{}, fmt.Errorf("unknown scheme %q", scheme)
	}
	o.TLS = strings.HasPrefix(strings.ToLower(scheme), "rediss")
	o.Network = "tcp"
	if strings.ContainsAny(rest, "#") {
		return Options{}, errors.New("a fragment (#) is not allowed")
	}
	rest, query, _ := strings.Cut(rest, "?")
	// The user info ends at the last @ before the path: a password may hold
	// a '/' only percent-encoded, as in any URL.
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		if err := o.userInfo(authority[:i]); err != nil {
			return Options{}, err
		}
		authority = authority[i+1:]
	}
	if strings.EqualFold(scheme, "unix") {
		return o, o.unix(authority, path, query)
	}
	if query != "" {
		return Options{}, errors.New("query parameters are not accepted (say TLS with rediss, the database in the path)")
	}
	if err := o.hosts(authority); err != nil {
		return Options{}, err
	}
	return o, o.path(path)
}

func (o *Options) userInfo(ui string) error {
	user, pass, hasPass := strings.Cut(ui, ":")
	var err error
	if o.Username, err = url.PathUnescape(user); err != nil {
		return errors.New("bad percent-encoding in the user name")
	}
	if hasPass {
		if o.Password, err = url.PathUnescape(pass); err != nil {
			return errors.New("bad percent-encoding in the password")
		}
	}
	return nil
}

func (o *Options) unix(authority, path, query string) error {
	o.Network = "unix"
	if authority != "" || path == "" {
		return errors.New("unix:// wants a socket path: unix:///path/to/socket")
	}
	o.Addrs = []string{"/" + path}
	if query == "" {
		return nil
	}
	v, err := url.ParseQuery(query)
	if err != nil || len(v) != 1 || len(v["db"]) != 1 {
		return errors.New("unix:// takes only ?db=N")
	}
	return o.db(v["db"][0])
}

// hosts reads host:port[,host:port…]; a host list is for Sentinel and Cluster.
func (o *Options) hosts(list string) error {
	if list == "" {
		return errors.New("no host:port")
	}
	parts := strings.Split(list, ",")
	if len(parts) > 1 && o.Mode == Single {
		return errors.New("a host list needs redis+sentinel:// or redis+cluster://")
	}
	if len(parts) > MaxAddrs {
		return fmt.Errorf("more than %d hosts", MaxAddrs)
	}
	for _, p := range parts {
		addr, err := hostPort(p, o.Mode)
		if err != nil {
			return err
		}
		o.Addrs = append(o.Addrs, addr)
	}
	return nil
}

// hostPort checks one host[:port]; a single server defaults to 6379 as
// redis-cli and go-redis do, a host of a list must say its port.
func hostPort(p string, m Mode) (string, error) {
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		if m != Single || strings.Contains(strings.Trim(p, "[]"), ":") {
			return "", fmt.Errorf("%q is not host:port", p)
		}
		host, port = strings.Trim(p, "[]"), "6379"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: the port must be 1–65535", p)
	}
	if host == "" || strings.ContainsAny(host, " \t/\\@?#%") {
		return "", fmt.Errorf("%q: bad host", p)
	}
	return net.JoinHostPort(host, port), nil
}

// path reads [/db] (Single), /master-name[/db] (Sentinel) or nothing (Cluster).
func (o *Options) path(path string) error {
	segs := strings.Split(path, "/")
	if path == "" {
		segs = nil
	}
	switch o.Mode {
	case Sentinel:
		if len(segs) == 0 || segs[0] == "" {
			return errors.New("redis+sentinel:// wants the master name: redis+sentinel://host:26379/mymaster")
		}
		name, err := url.PathUnescape(segs[0])
		if err != nil {
			return errors.New("bad percent-encoding in the master name")
		}
		o.MasterName = name
		segs = segs[1:]
	case Cluster:
		if len(segs) > 0 && segs[0] != "" {
			return errors.New("redis+cluster:// takes no path: a Redis Cluster has only database 0")
		}
		return nil
	}
	switch {
	case len(segs) == 0 || len(segs) == 1 && segs[0] == "":
		return nil
	case len(segs) == 1:
		return o.db(segs[0])
	}
	return fmt.Errorf("unexpected path /%s", path)
}

func (o *Options) db(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<20 {
		return fmt.Errorf("the database must be a number, not %q", s)
	}
	o.DB = n
	return nil
}

// Validate checks Options built field by field (the config file's long
// form) as Parse checks a URL.
func (o Options) Validate() error {
	if err := o.check(); err != nil {
		return fmt.Errorf("%w: %s", ErrForm, err)
	}
	return nil
}

func (o Options) check() error {
	switch o.Mode {
	case Single, Sentinel, Cluster:
	default:
		return fmt.Errorf("unknown mode %q", o.Mode)
	}
	if len(o.Addrs) == 0 {
		return errors.New("no address")
	}
	if len(o.Addrs) > MaxAddrs {
		return fmt.Errorf("more than %d addresses", MaxAddrs)
	}
	if o.Network == "unix" {
		if o.Mode != Single || len(o.Addrs) != 1 {
			return errors.New("a unix socket is one single server")
		}
	} else {
		if o.Mode == Single && len(o.Addrs) != 1 {
			return errors.New("a single server has one address")
		}
		for _, a := range o.Addrs {
			if _, err := hostPort(a, Sentinel); err != nil {
				return err
			}
		}
	}
	switch {
	case o.Mode == Sentinel && o.MasterName == "":
		return errors.New("sentinel needs the master name")
	case o.Mode != Sentinel && o.MasterName != "":
		return errors.New("a master name is for sentinel only")
	case o.Mode != Sentinel && o.SentinelPassword != "":
		return errors.New("a sentinel password is for sentinel only")
	case o.Mode == Cluster && o.DB != 0:
		return errors.New("a Redis Cluster has only database 0")
	case o.DB < 0:
		return errors.New("the database must not be negative")
	case strings.ContainsAny(o.MasterName, "\r\n "):
		return errors.New("the master name must not contain spaces")
	}
	return nil
}

// String is the URL form of o with its passwords hidden, for logs.
func (o Options) String() string {
	scheme := "redis"
	if o.TLS {
		scheme = "rediss"
	}
	switch {
	case o.Network == "unix":
		scheme = "unix"
	case o.Mode == Sentinel:
		scheme += "+sentinel"
	case o.Mode == Cluster:
		scheme += "+cluster"
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if o.Username != "" || o.Password != "" {
		b.WriteString(escape(o.Username))
		if o.Password != "" {
			b.WriteString(":xxxxx")
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(o.Addrs, ","))
	if o.Mode == Sentinel {
		b.WriteString("/" + escape(o.MasterName))
	}
	if o.DB != 0 {
		if o.Network == "unix" {
			b.WriteString("?db=" + strconv.Itoa(o.DB))
		} else {
			b.WriteString("/" + strconv.Itoa(o.DB))
		}
	}
	return b.String()
}

// escape percent-encodes s for the user info or a path segment.
func escape(s string) string {
	return strings.NewReplacer(":", "%3A", "@", "%40").Replace(url.PathEscape(s))
}

// Redacted returns s with a password of its user info replaced by xxxxx,
// for error messages about a URL that may not parse.
func Redacted(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "xxxxx" + s[i:]
		}
		return s
	}
	authority, tail, hasTail := strings.Cut(rest, "/")
	i := strings.LastIndex(authority, "@")
	if i < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(authority[:i], ":")
	if hasPass {
		user += ":xxxxx"
	}
	out := scheme + "://" + user + authority[i:]
	if hasTail {
		out += "/" + tail
	}
	return out
}
