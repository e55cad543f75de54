// Package config holds Pixiu's configuration as one plain struct. The file
// and environment layers only fill it (defaults < file < PIXIU_* env <
// flags); a zero value means the default (ApplyDefaults), except in apps,
// whose settings start from apps.Defaults. Load refuses unknown keys and
// values of the wrong type with file and line; Validate checks every value
// and names its key. `pixiu serve` and `pixiu config check` use both, so
// they accept and refuse the same files.
package config

import (
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// Config is the whole server configuration.
type Config struct {
	Host string `yaml:"host"` // default 0.0.0.0
	Port int    `yaml:"port"` // default 6001

	// ActivityTimeout is sent to clients in connection_established and is the
	// silence after which the server pings (protocol.md §3.1). Default 120s.
	ActivityTimeout Duration `yaml:"activity_timeout"`
	// PongTimeout is how long the server waits for any traffic after its ping
	// before closing with 4201. Default 30s.
	PongTimeout Duration `yaml:"pong_timeout"`
	// UserAuthTimeout is how long a connection of an app with user_auth
	// (authorized connections) has to sign in or subscribe to a private or
	// presence channel before it is closed with 4009 (env
	// PIXIU_USER_AUTH_TIMEOUT). Default 30s.
	UserAuthTimeout Duration `yaml:"user_auth_timeout"`

	// Demo serves the exchange demo under /demo (default on).
	Demo *bool `yaml:"demo"`
	// DemoAppID names the app the demo publishes as (env PIXIU_DEMO_APP_ID).
	// Default empty: the development app only; with neither, the demo says
	// so and publishes nothing.
	DemoAppID string `yaml:"demo_app_id"`

	// PprofAddr, when set (e.g. 127.0.0.1:6060), serves net/http/pprof there
	// (env PIXIU_PPROF). Never expose it publicly. Not with AdminAddr, which
	// serves pprof itself.
	PprofAddr string `yaml:"pprof_addr"`

	// AdminAddr, when set (e.g. 127.0.0.1:9090, or ":9090" for loopback port
	// 9090), serves /metrics and /debug/pprof/ there and no longer on the
	// public port (env PIXIU_ADMIN_ADDR). Default empty: /metrics on the
	// public port, pprof only with PprofAddr.
	AdminAddr string `yaml:"admin_addr"`

	// LogLevel is debug, info, warn or error (default info); LogFormat text or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	Limits Limits `yaml:"limits"`

	// EventLoops is the number of event loops serving connections
	// (default 0: one per CPU).
	EventLoops int `yaml:"event_loops"`

	// Store is where apps and usage live (embedded SQLite by default).
	Store Store `yaml:"store"`
	// Console is the web console under /console.
	Console Console `yaml:"console"`
	// Cluster selects the cluster engine (in-memory unless Redis is set).
	Cluster Cluster `yaml:"cluster"`
	// Webhooks are delivery settings shared by all apps (endpoints are per app).
	Webhooks WebhookSettings `yaml:"webhooks"`
	// Metrics shapes /metrics.
	Metrics Metrics `yaml:"metrics"`
	// TLS serves the port over TLS (https:// and wss://) when a certificate
	// is configured or obtained (ACME); the port then refuses plain HTTP.
	TLS TLS `yaml:"tls"`

	// Apps are the statically configured apps (read-only at runtime): id,
	// key, secret and the settings of apps.Settings; a setting left out takes
	// its default (apps.Defaults), the name defaults to the id.
	Apps []apps.App `yaml:"apps"`

	// DevApp allows the development app (DefaultApp): a start that finds no
	// app in the config file nor in the store stores it, as an ordinary app;
	// it is removed once another app exists while it still has its
	// well-known secret. false never creates it and removes a stored one
	// that still has the well-known secret (env PIXIU_DEV_APP). Default true.
	DevApp *bool `yaml:"dev_app"`

	src *source // where Load found each key (nil: not loaded)
}

// Limits are server-wide protocol limits (protocol.md §8).
type Limits struct {
	MaxEventBytes     int      `yaml:"max_event_bytes"`                  // default 10240
	MaxChannelNameLen int      `yaml:"max_channel_name_len"`             // default 200
	MaxEventNameLen   int      `yaml:"max_event_name_len"`               // default 200
	MaxChannelsPerPub int      `yaml:"max_channels_per_publish"`         // default 100
	MaxBatchEvents    int      `yaml:"max_batch_events"`                 // default 10
	MaxMessageBytes   int      `yaml:"max_ws_message_bytes"`             // largest client frame accepted, default 65536
	MaxPendingBytes   int      `yaml:"max_pending_bytes"`                // per-socket outbound bound before 4100, default 1 MiB
	MaxOutboundBytes  int      `yaml:"max_outbound_bytes"`               // all sockets' outbound bytes before the largest holders get 4100, default 192 MiB (docs/PERFORMANCE.md: RSS ≈ budget + ~45 MB); env PIXIU_MAX_OUTBOUND_BYTES
	MaxSubscriptions  int      `yaml:"max_subscriptions_per_connection"` // default 10000
	CacheTTL          Duration `yaml:"cache_ttl"`                        // cache channel TTL, default 30m
	// HTTPRequestTimeout bounds each plain HTTP request (REST, console),
	// head and body, from its first byte; default 15s.
	HTTPRequestTimeout Duration `yaml:"http_request_timeout"`
	// HTTPWriteTimeout bounds a request served by net/http from its head to
	// the end of its answer (WebSocket connections and console streams are
	// exempt); default 30s, more than HTTPRequestTimeout.
	HTTPWriteTimeout Duration `yaml:"http_write_timeout"`

	// MaxSubscribesPS bounds each connection's subscribe/unsubscribe
	// requests per second (default 20), with bursts of SubscribeBurst
	// (default 100, so a client subscribing to 100 channels at connect is
	// served at once).
	MaxSubscribesPS int `yaml:"max_subscriptions_per_second"`
	SubscribeBurst  int `yaml:"subscription_burst"`

	// HistoryMaxBytes bounds the memory all channel history takes with the
	// in-memory engine (default 64 MiB); past it the least recently
	// published channels' history is dropped first. The Redis engine keeps
	// history in Redis (bounded by each app's history settings).
	HistoryMaxBytes int `yaml:"history_max_bytes"`
	// HistoryMaxReplay bounds the events one recovery or REST history
	// read returns (default 100; the REST limit parameter and the recovery
	// script ask for at most this many).
	HistoryMaxReplay int `yaml:"history_max_replay"`
}

// Store selects the app/usage store: SQLite at Path (default
// "pixiu-data/pixiu.db") or PostgreSQL when DSN is set (postgres://…).
type Store struct {
	Path string `yaml:"path"` // env PIXIU_STORE_PATH
	DSN  string `yaml:"dsn"`  // env PIXIU_STORE_DSN
}

// Metrics shapes /metrics.
type Metrics struct {
	// PerAppLabels labels the per-app families with app_id (default true;
	// env PIXIU_METRICS_PER_APP_LABELS). false sums them over the apps: one
	// series per family for setups with thousands of apps.
	PerAppLabels *bool `yaml:"per_app_labels"`
}

// AppLabels reports whether per-app families carry the app_id label.
func (m Metrics) AppLabels() bool { return m.PerAppLabels == nil || *m.PerAppLabels }

// TLS configures TLS on the port: a certificate and key from files (reloaded
// when they change) or certificates obtained with ACME. Neither: plain HTTP.
type TLS struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain, leaf first; env PIXIU_TLS_CERT_FILE
	KeyFile  string `yaml:"key_file"`  // PEM private key of the leaf; env PIXIU_TLS_KEY_FILE
	ACME     ACME   `yaml:"acme"`
}

// Enabled reports whether the port serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || len(t.ACME.Domains) > 0 }

// ACME obtains and renews certificates automatically (TLS-ALPN-01 on the
// port, which the CA must reach as port 443 of each domain).
type ACME struct {
	Domains []string `yaml:"domains"` // host names to obtain certificates for; none: ACME off
	Email   string   `yaml:"email"`   // contact for the CA (expiry notices); optional
	// CacheDir keeps the account key and certificates across restarts
	// (default pixiu-data/acme, created 0700).
	CacheDir string `yaml:"cache_dir"`
	// DirectoryURL is the CA's ACME directory (default Let's Encrypt's
	// production directory).
	DirectoryURL string `yaml:"directory_url"`
	// CAFile, if set, is a PEM bundle trusted for the ACME directory instead
	// of the system roots (a private CA such as step-ca or Pebble).
	CAFile string `yaml:"ca_file"`
}

// Console configures the web console.
type Console struct {
	Enabled  *bool  `yaml:"enabled"`  // default true
	Password string `yaml:"password"` // env PIXIU_CONSOLE_PASSWORD; generated and printed once if empty
	// TrustedProxies are reverse proxies (addresses or CIDR prefixes) whose
	// X-Forwarded-For names the client for sign-in throttling (env
	// PIXIU_CONSOLE_TRUSTED_PROXIES, comma-separated). Default: none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Cluster configures the cluster engine. The Redis it uses is named either
// by one URL (Redis, any of redisurl.Forms) or by the long form: the
// addresses of Sentinel or of a Redis Cluster, with Username, Password, DB
// and TLS. Nothing set: the in-memory engine. See Cluster.RedisOptions.
type Cluster struct {
	// Redis is a URL of redisurl.Forms (env PIXIU_CLUSTER); empty = in-memory
	// unless Sentinel.Addrs or RedisCluster.Addrs is set.
	Redis        string       `yaml:"redis"`
	Sentinel     Sentinel     `yaml:"sentinel"`
	RedisCluster RedisCluster `yaml:"redis_cluster"`
	// Username and Password authenticate to the Redis servers; with a URL
	// they fill in what it leaves out (a secret kept out of the URL).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`  // long form only (a URL says it in its path)
	TLS      bool   `yaml:"tls"` // long form only (a URL says rediss)

	NodeID      string   `yaml:"node_id"`      // default: random
	LeaseTTL    Duration `yaml:"lease_ttl"`    // node lease, default 10s
	DrainWindow Duration `yaml:"drain_window"` // spread of 4200 closes on SIGTERM, default 10s
	KeyPrefix   string   `yaml:"key_prefix"`   // Redis key prefix, default "pixiu:"
}

// Sentinel names a primary through Redis Sentinel (the long form of
// redis+sentinel://).
type Sentinel struct {
	Addrs    []string `yaml:"addrs"`    // the Sentinels, host:port each
	Master   string   `yaml:"master"`   // the name they monitor the primary under
	Password string   `yaml:"password"` // the Sentinels' own password (their requirepass), if any
}

// RedisCluster names a Redis Cluster (the long form of redis+cluster://).
type RedisCluster struct {
	Addrs []string `yaml:"addrs"` // seed nodes, host:port each
}

// WebhookSettings are server-wide webhook delivery settings.
type WebhookSettings struct {
	Timeout       Duration `yaml:"timeout"`        // per request, default 5s
	RetryHorizon  Duration `yaml:"retry_horizon"`  // default 5m (as Pusher)
	BatchInterval Duration `yaml:"batch_interval"` // default 250ms
	BatchMax      int      `yaml:"batch_max"`      // default 50 events
	VacateDelay   Duration `yaml:"vacate_delay"`   // default 3s; negative: none
	// DeadLetterRetention is how long dead letters are kept before they are
	// deleted (env PIXIU_WEBHOOKS_DEAD_LETTER_RETENTION). Default 168h (7 days).
	DeadLetterRetention Duration `yaml:"dead_letter_retention"`
	// MaxOutboxEvents caps the events waiting in the outbox; past it new
	// events are dropped and counted (env PIXIU_WEBHOOKS_MAX_OUTBOX_EVENTS).
	// Default 1000000.
	MaxOutboxEvents int64 `yaml:"max_outbox_events"`
}

// Duration is a time.Duration that reads "30s" or a number of seconds from YAML/env.
type Duration time.Duration

// UnmarshalYAML accepts "1m30s" or a plain number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s, 1m30s or 250ms, or a number of seconds, not %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// DefaultApp is the development app, stored when no app exists anywhere
// (see DevApp). Its credentials are public: they are in the README.
func DefaultApp() apps.App {
	a := apps.App{ID: "app-id", Key: "app-key", Secret: "app-secret", Settings: apps.Defaults()}
	a.Name = "Default development app"
	a.ClientEvents, a.SubscriptionCount = true, true
	return a
}

// LetsEncryptURL is the default ACME directory (Let's Encrypt, production).
const LetsEncryptURL = "https://acme-v02.api.letsencrypt.org/directory"

// ApplyDefaults fills every zero field with its default.
func (c *Config) ApplyDefaults() {
	if c.Host == "" {
		c.Host = "0.0.0.0"
	}
	if c.Port == 0 {
		c.Port = 6001
	}
	if c.ActivityTimeout == 0 {
		c.ActivityTimeout = Duration(120 * time.Second)
	}
	setDur(&c.UserAuthTimeout, 30*time.Second)
	if c.PongTimeout == 0 {
		c.PongTimeout = Duration(30 * time.Second)
	}
	if c.Demo == nil {
		t := true
		c.Demo = &t
	}
	if c.DevApp == nil {
		t := true
		c.DevApp = &t
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.Store.Path == "" {
		c.Store.Path = "pixiu-data/pixiu.db"
	}
	if c.Metrics.PerAppLabels == nil {
		t := true
		c.Metrics.PerAppLabels = &t
	}
	if c.Console.Enabled == nil {
		t := true
		c.Console.Enabled = &t
	}
	if len(c.TLS.ACME.Domains) > 0 {
		if c.TLS.ACME.CacheDir == "" {
			c.TLS.ACME.CacheDir = "pixiu-data/acme"
		}
		if c.TLS.ACME.DirectoryURL == "" {
			c.TLS.ACME.DirectoryURL = LetsEncryptURL
		}
	}
	setDur(&c.Cluster.LeaseTTL, 10*time.Second)
	setDur(&c.Cluster.DrainWindow, 10*time.Second)
	if c.Cluster.KeyPrefix == "" {
		c.Cluster.KeyPrefix = "pixiu:"
	}
	w := &c.Webhooks
	setDur(&w.Timeout, 5*time.Second)
	setDur(&w.RetryHorizon, 5*time.Minute)
	setDur(&w.BatchInterval, 250*time.Millisecond)
	setInt(&w.BatchMax, 50)
	setDur(&w.VacateDelay, 3*time.Second)
	setDur(&w.DeadLetterRetention, 7*24*time.Hour)
	if w.MaxOutboxEvents == 0 {
		w.MaxOutboxEvents = 1_000_000
	}
	l := &c.Limits
	setInt(&l.MaxEventBytes, 10*1024)
	setInt(&l.MaxChannelNameLen, 200)
	setInt(&l.MaxEventNameLen, 200)
	setInt(&l.MaxChannelsPerPub, 100)
	setInt(&l.MaxBatchEvents, 10)
	setInt(&l.MaxMessageBytes, 64*1024)
	setInt(&l.MaxPendingBytes, 1<<20)
	setInt(&l.MaxOutboundBytes, 192<<20)
	setInt(&l.MaxSubscriptions, 10_000)
	setInt(&l.MaxSubscribesPS, 20)
	setInt(&l.SubscribeBurst, 100)
	setInt(&l.HistoryMaxBytes, 64<<20)
	setInt(&l.HistoryMaxReplay, 100)
	if l.CacheTTL == 0 {
		l.CacheTTL = Duration(30 * time.Minute)
	}
	setDur(&l.HTTPRequestTimeout, 15*time.Second)
	setDur(&l.HTTPWriteTimeout, 30*time.Second)
	for i := range c.Apps {
		if a := &c.Apps[i]; a.Name == "" {
			a.Name = a.ID
		}
	}
}

func setDur(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// Addr is host:port for listening.
func (c *Config) Addr() string { return c.Host + ":" + strconv.Itoa(c.Port) }
