package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/pusher"
)

// Client-side defaults: the local server and the development app.
const (
	defaultClientHost = "127.0.0.1"
	defaultClientPort = 6001
)

// connFlags are the flags shared by the REST client commands (trigger,
// channels, users). Empty means "not given": resolve fills the gaps from the
// environment, the config file and the defaults, in that order.
type connFlags struct {
	appID, key, secret string
	host               string
	port               int
	configPath         string
}

func (cf *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.appID, "app-id", "", "app id (env PIXIU_APP_ID; default: config file's first app, else app-id)")
	fs.StringVar(&cf.key, "key", "", "app key (env PIXIU_APP_KEY; default app-key)")
	fs.StringVar(&cf.secret, "secret", "", "app secret (env PIXIU_APP_SECRET; default app-secret)")
	fs.StringVar(&cf.host, "host", "", "server host, optionally http(s)://host:port (env PIXIU_HOST; default 127.0.0.1)")
	fs.IntVar(&cf.port, "port", 0, "server port (env PIXIU_PORT; default 6001)")
	fs.StringVar(&cf.configPath, "config", "", "pixiu config FILE to take the first app and the port from")
}

// options resolves the client options: flags, then PIXIU_* environment, then
// the config file's first app (and its port), then the development defaults.
func (cf *connFlags) options(getenv func(string) string) (pusher.Options, error) {
	app := config.DefaultApp()
	host, port, secure := "", 0, false
	if cf.configPath != "" {
		cfg, err := config.Load(cf.configPath, getenv)
		if err != nil {
			return pusher.Options{}, err
		}
		if len(cfg.Apps) > 0 {
			app = cfg.Apps[0]
		}
		ep := clientEndpoint(cfg) // loopback for 0.0.0.0; the certificate's name with TLS
		host, port, secure = ep.Host, ep.Port, ep.TLS
	}
	opts := pusher.Options{
		AppID:  firstNonEmpty(cf.appID, getenv("PIXIU_APP_ID"), app.ID),
		Key:    firstNonEmpty(cf.key, getenv("PIXIU_APP_KEY"), app.Key),
		Secret: firstNonEmpty(cf.secret, getenv("PIXIU_APP_SECRET"), app.Secret),
		Host:   firstNonEmpty(cf.host, getenv("PIXIU_HOST"), host, defaultClientHost),
	}
	if isWildcardHost(opts.Host) {
		opts.Host = defaultClientHost
	}
	if secure && !strings.Contains(opts.Host, "://") {
		opts.Scheme = "https" // the config's port speaks TLS only
	}
	switch {
	case cf.port != 0:
		opts.Port = cf.port
	case getenv("PIXIU_PORT") != "":
		p, err := strconv.Atoi(getenv("PIXIU_PORT"))
		if err != nil {
			return opts, fmt.Errorf("PIXIU_PORT: %w", err)
		}
		opts.Port = p
	case hostHasPort(opts.Host):
		// The host names its port (or a scheme implies one).
	case port != 0:
		opts.Port = port
	default:
		opts.Port = defaultClientPort
	}
	return opts, nil
}

func (cf *connFlags) client(getenv func(string) string) (*pusher.Client, error) {
	opts, err := cf.options(getenv)
	if err != nil {
		return nil, err
	}
	return pusher.New(opts)
}

func isWildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" || h == "[::]" }

func hostHasPort(h string) bool {
	if strings.Contains(h, "://") {
		return true
	}
	_, _, err := net.SplitHostPort(h)
	return err == nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// listFlag collects a repeatable flag whose values may also be comma lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// runTrigger runs `pixiu trigger`: publish one event through the REST API and
// print the server's JSON answer.
func runTrigger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		cf       connFlags
		channels listFlag
		opts     pusher.TriggerOptions
	)
	cmd := newCommand("pixiu trigger", "pixiu trigger --channel C [--channel C2 | --channel C1,C2] --event E --data JSON [--socket-id ID] [--info ATTRS]", stdout, stderr)
	fs := cmd.fs
	cf.register(fs)
	fs.Var(&channels, "channel", "channel to publish on (repeatable, or a comma list)")
	event := fs.String("event", "", "event name")
	data := fs.String("data", "", `event data: JSON, sent as is (a string as '"text"')`)
	fs.StringVar(&opts.SocketID, "socket-id", "", "socket id to exclude from delivery")
	fs.StringVar(&opts.Info, "info", "", "attributes to report, e.g. user_count,subscription_count")
	if _, code := cmd.parse(args, 0); code >= 0 {
		return code
	}
	if len(channels) == 0 || *event == "" || !flagGiven(fs, "data") {
		return cmd.fail("--channel, --event and --data are required")
	}
	if !json.Valid([]byte(*data)) {
		return cmd.fail(`--data must be JSON, e.g. '{"price":42}' or '"hello"', not %q`, clipArg(*data))
	}
	c, err := cf.client(getenv)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	res, err := c.TriggerContext(ctx, channels, *event, *data, &opts)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	return writeJSONLine(stdout, stderr, res.Raw)
}

// runChannels runs `pixiu channels`: list occupied channels.
func runChannels(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		cf           connFlags
		prefix, info string
	)
	cmd := newCommand("pixiu channels", "pixiu channels [--prefix P] [--info user_count]", stdout, stderr)
	fs := cmd.fs
	cf.register(fs)
	fs.StringVar(&prefix, "prefix", "", "only channels whose name starts with P")
	fs.StringVar(&info, "info", "", "attributes to report (user_count needs --prefix presence-)")
	if _, code := cmd.parse(args, 0); code >= 0 {
		return code
	}
	c, err := cf.client(getenv)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	res, err := c.ChannelsContext(ctx, pusher.ChannelsParams{FilterByPrefix: &prefix, Info: &info})
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	return writeJSONLine(stdout, stderr, res.Raw)
}

// runUsers runs `pixiu users`: list the users of a presence channel.
func runUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf connFlags
	cmd := newCommand("pixiu users", "pixiu users --channel presence-NAME", stdout, stderr)
	fs := cmd.fs
	cf.register(fs)
	channel := fs.String("channel", "", "presence channel")
	if _, code := cmd.parse(args, 0); code >= 0 {
		return code
	}
	if *channel == "" {
		return cmd.fail("--channel is required")
	}
	c, err := cf.client(getenv)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	res, err := c.GetChannelUsersContext(ctx, *channel)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	users := res.List
	if users == nil {
		users = []pusher.User{}
	}
	b, err := json.Marshal(struct {
		Users []pusher.User `json:"users"`
	}{users})
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	return writeJSONLine(stdout, stderr, b)
}

// clipArg shortens an argument for an error message.
func clipArg(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// reportClientError reports err on stderr and returns the exit code: the server's status
// and message for an HTTP error (1), 2 for invalid arguments, else 1.
func reportClientError(stderr io.Writer, cmd string, err error) int {
	var he *pusher.HTTPError
	if errors.As(err, &he) {
		fmt.Fprintf(stderr, "%s: server answered %d %s: %s\n", cmd, he.Status, http.StatusText(he.Status), he.Body)
		return 1
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	// The SDK's argument checks: failing one is bad usage.
	for _, u := range []error{
		pusher.ErrInvalidChannel, pusher.ErrTooManyChannels, pusher.ErrInvalidEvent,
		pusher.ErrDataTooLarge, pusher.ErrInvalidSocketID, pusher.ErrEncryption,
	} {
		if errors.Is(err, u) {
			return 2
		}
	}
	return 1
}

func writeJSONLine(stdout, stderr io.Writer, b []byte) int {
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		fmt.Fprintln(stderr, "pixiu:", err)
		return 1
	}
	return 0
}
