package pusher

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// Options configure a Client. Zero values mean the documented default.
type Options struct {
	// AppID, Key and Secret are the app credentials. Required.
	AppID  string
	Key    string
	Secret string

	// Cluster selects the pusher.com cluster ("eu", "mt1", ...). It only sets
	// the default Host.
	Cluster string
	// Host is the server's host, optionally with ":port" or a scheme prefix
	// ("http://127.0.0.1:6001"). Default "api-<Cluster>.pusher.com" when
	// Cluster is set, else "api.pusherapp.com".
	Host string
	// Port overrides the port of Host. Default: the port in Host, else the
	// scheme's default.
	Port int
	// Scheme is "http" or "https". Default "https" when Secure is set or the
	// host is a pusher.com host, else "http" (a self-hosted Pixiu).
	Scheme string
	// Secure forces https, like pusher-http-go's Secure.
	Secure bool

	// HTTPClient sends the requests. Default: a client with a 10s timeout.
	HTTPClient *http.Client

	// EncryptionMasterKey is the base64 encoding of 32 bytes. It is required
	// to trigger on or authorize private-encrypted-* channels.
	EncryptionMasterKey string

	// MaxDataBytes bounds the data of one event (after encryption). Default
	// 10240, Pusher's limit; raise it only for servers configured for more.
	MaxDataBytes int

	// AsyncQueueSize bounds the TriggerAsync queue. Default 1024.
	AsyncQueueSize int
	// AsyncWorkers is the number of goroutines sending queued events.
	// Default 4. They start on the first TriggerAsync.
	AsyncWorkers int
	// OnAsyncError receives the error of every queued event that could not be
	// sent. It is called from a worker goroutine and must not block for long.
	// Default: errors are dropped.
	OnAsyncError func(error)
}

// Client calls one app's REST API. Build it with New. It is safe for
// concurrent use.
type Client struct {
	appID     string
	key       string
	secret    string
	baseURL   string // scheme://host[:port], no trailing slash
	http      *http.Client
	masterKey []byte // nil when encryption is not configured
	maxData   int
	async     *asyncQueue
}

// New validates opts and returns a Client. It does no I/O.
func New(opts Options) (*Client, error) {
	if opts.AppID == "" || opts.Key == "" || opts.Secret == "" {
		return nil, errors.New("pusher: options: AppID, Key and Secret are required")
	}
	base, err := baseURL(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		appID: opts.AppID, key: opts.Key, secret: opts.Secret,
		baseURL: base, http: opts.HTTPClient, maxData: opts.MaxDataBytes,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 10 * time.Second}
	}
	if c.maxData <= 0 {
		c.maxData = defaultMaxData
	}
	if opts.EncryptionMasterKey != "" {
		k, err := base64.StdEncoding.DecodeString(opts.EncryptionMasterKey)
		if err != nil || len(k) != 32 {
			return nil, errors.New("pusher: options: EncryptionMasterKey must be the base64 encoding of 32 bytes")
		}
		c.masterKey = k
	}
	c.async = newAsyncQueue(c, opts.AsyncQueueSize, opts.AsyncWorkers, opts.OnAsyncError)
	return c, nil
}

// baseURL turns the host options into "scheme://host[:port]".
func baseURL(opts Options) (string, error) {
	host, scheme := opts.Host, opts.Scheme
	if before, after, ok := strings.Cut(host, "://"); ok {
		if scheme == "" {
			scheme = before
		}
		host = strings.TrimSuffix(after, "/")
	}
	if host == "" {
		host = "api.pusherapp.com"
		if opts.Cluster != "" {
			host = "api-" + opts.Cluster + ".pusher.com"
		}
	}
	if opts.Port != 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(opts.Port))
	}
	switch {
	case scheme == "" && (opts.Secure || isPusherHost(host)):
		scheme = "https"
	case scheme == "":
		scheme = "http"
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("pusher: options: scheme %q, want http or https", scheme)
	case scheme == "http" && opts.Secure:
		return "", errors.New("pusher: options: Secure conflicts with scheme http")
	}
	if strings.ContainsAny(host, "/?#@") {
		return "", fmt.Errorf("pusher: options: invalid host %q", host)
	}
	return scheme + "://" + host, nil
}

func isPusherHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.HasSuffix(host, ".pusher.com") || strings.HasSuffix(host, ".pusherapp.com")
}

// maxResponseBytes bounds what is read of a response (a channel list can be
// large, but not unbounded).
const maxResponseBytes = 16 << 20

// do sends a signed request for the app-relative path (e.g. "/events") and
// returns the body of a 2xx answer, checked to be JSON. A nil body sends no
// body (and no body_md5).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	path = "/apps/" + c.appID + path
	signed := signature.SignRequest(c.key, c.secret, method, path, query, body, time.Now())
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path+"?"+signed.Encode(), rd)
	if err != nil {
		return nil, fmt.Errorf("pusher: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pusher: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("pusher: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("pusher: %s %s: status %d with a body that is not JSON: %.200q", method, path, resp.StatusCode, b)
	}
	return b, nil
}

// doJSON is do followed by decoding the answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	b, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("pusher: %s %s: decode response: %w", method, path, err)
	}
	return nil
}
