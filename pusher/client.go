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

	// EncryptionMasterKey is the base64 encoding of 32 bytes (it becomes
	// Client.EncryptionMasterKeyBase64). It is required
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

// Client calls one app's REST API. Its exported fields are those of the
// official pusher-http-go Client, so a struct literal written for that SDK
// works unchanged:
//
//	client := pusher.Client{AppID: "app-id", Key: "app-key", Secret: "app-secret", Host: "127.0.0.1:6001"}
//
// New builds one from Options, which adds Pixiu's settings (scheme, port,
// data limit, async queue; TriggerAsync needs a Client built by New). Set
// the fields before first use and do not change them afterwards. It is safe
// for concurrent use.
type Client struct {
	// AppID, Key and Secret are the app credentials. Required.
	AppID  string
	Key    string
	Secret string
	// Host is the server's host or host:port, optionally with a scheme
	// prefix. Default "api-<Cluster>.pusher.com" when Cluster is set, else
	// "api.pusherapp.com".
	Host string
	// Secure selects https. Without it a pusher.com host still uses https and
	// any other host (a self-hosted Pixiu) plain http.
	Secure bool
	// Cluster selects the pusher.com cluster ("eu", "mt1", ...). It only sets
	// the default Host.
	Cluster string
	// HTTPClient sends the requests. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// EncryptionMasterKey is a 32-byte master key given as is.
	//
	// Deprecated: use EncryptionMasterKeyBase64, as in pusher-http-go.
	EncryptionMasterKey string
	// EncryptionMasterKeyBase64 is the base64 encoding of 32 bytes. It is
	// required to trigger on or authorize private-encrypted-* channels.
	EncryptionMasterKeyBase64 string
	// OverrideMaxMessagePayloadKB raises the data limit of one event from
	// 10 KB to this many KB (for servers configured for more).
	OverrideMaxMessagePayloadKB int

	scheme  string      // "", "http" or "https" (Options.Scheme)
	port    int         // Options.Port; 0 = from Host
	maxData int         // Options.MaxDataBytes; 0 = from OverrideMaxMessagePayloadKB
	async   *asyncQueue // built by New; nil in a Client literal (no TriggerAsync)
}

// New validates opts and returns a Client. It does no I/O.
func New(opts Options) (*Client, error) {
	if opts.AppID == "" || opts.Key == "" || opts.Secret == "" {
		return nil, errors.New("pusher: options: AppID, Key and Secret are required")
	}
	c := &Client{
		AppID: opts.AppID, Key: opts.Key, Secret: opts.Secret,
		Host: opts.Host, Secure: opts.Secure, Cluster: opts.Cluster,
		HTTPClient: opts.HTTPClient, EncryptionMasterKeyBase64: opts.EncryptionMasterKey,
		scheme: opts.Scheme, port: opts.Port, maxData: opts.MaxDataBytes,
	}
	if _, err := c.baseURL(); err != nil {
		return nil, err
	}
	if opts.EncryptionMasterKey != "" {
		if _, err := c.masterKey(); err != nil {
			return nil, err
		}
	}
	c.async = newAsyncQueue(c, opts.AsyncQueueSize, opts.AsyncWorkers, opts.OnAsyncError)
	return c, nil
}

// masterKey returns the decoded encryption master key, or an error wrapping
// ErrEncryption when none (or a malformed one) is configured.
func (c *Client) masterKey() ([]byte, error) {
	switch {
	case c.EncryptionMasterKey != "" && c.EncryptionMasterKeyBase64 != "":
		return nil, fmt.Errorf("%w: set only one of EncryptionMasterKey and EncryptionMasterKeyBase64", ErrEncryption)
	case c.EncryptionMasterKey != "":
		if len(c.EncryptionMasterKey) != 32 {
			return nil, fmt.Errorf("%w: EncryptionMasterKey must be 32 bytes", ErrEncryption)
		}
		return []byte(c.EncryptionMasterKey), nil
	case c.EncryptionMasterKeyBase64 != "":
		k, err := base64.StdEncoding.DecodeString(c.EncryptionMasterKeyBase64)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: EncryptionMasterKeyBase64 must be the base64 encoding of 32 bytes", ErrEncryption)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: no master key: set EncryptionMasterKeyBase64", ErrEncryption)
}

// dataLimit is the largest event data accepted, in bytes.
func (c *Client) dataLimit() int {
	switch {
	case c.maxData > 0:
		return c.maxData
	case c.OverrideMaxMessagePayloadKB > 0:
		return c.OverrideMaxMessagePayloadKB * 1024
	}
	return defaultMaxData
}

// httpClient is HTTPClient or the default client.
func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	// Cheap: a nil Transport shares http.DefaultTransport's connection pool.
	return &http.Client{Timeout: 10 * time.Second}
}

// baseURL turns the host options into "scheme://host[:port]".
func (c *Client) baseURL() (string, error) {
	host, scheme := c.Host, c.scheme
	if before, after, ok := strings.Cut(host, "://"); ok {
		if scheme == "" {
			scheme = before
		}
		host = strings.TrimSuffix(after, "/")
	}
	if host == "" {
		host = "api.pusherapp.com"
		if c.Cluster != "" {
			host = "api-" + c.Cluster + ".pusher.com"
		}
	}
	if c.port != 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(c.port))
	}
	switch {
	case scheme == "" && (c.Secure || isPusherHost(host)):
		scheme = "https"
	case scheme == "":
		scheme = "http"
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("pusher: options: scheme %q, want http or https", scheme)
	case scheme == "http" && c.Secure:
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
	if c.AppID == "" || c.Key == "" || c.Secret == "" {
		return nil, errors.New("pusher: client: AppID, Key and Secret are required")
	}
	base, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	path = "/apps/" + c.AppID + path
	signed := signature.SignRequest(c.Key, c.Secret, method, path, query, body, time.Now())
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path+"?"+signed.Encode(), rd)
	if err != nil {
		return nil, fmt.Errorf("pusher: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
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
