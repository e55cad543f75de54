package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// This file holds the API of the official pusher-http-go v5 SDK, with its
// exact names and signatures, so that changing the import path is the whole
// migration. Each call uses context.Background(); the *Context variants take
// a context and the same arguments otherwise.

// TriggerParams are the optional parameters of TriggerWithParams and
// TriggerMultiWithParams. A nil field is not sent.
type TriggerParams struct {
	// SocketID excludes that connection from receiving the event.
	SocketID *string
	// Info asks for channel attributes in the answer, a comma list such as
	// "user_count,subscription_count".
	Info *string
}

// TriggerChannelsList is the answer to TriggerWithParams: one entry per
// channel when TriggerParams.Info was set.
type TriggerChannelsList struct {
	Channels map[string]TriggerChannelListItem `json:"channels"`
}

// TriggerChannelListItem holds the attributes reported for one channel; a
// nil count was not reported.
type TriggerChannelListItem struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// TriggerBatchChannelsList is the answer to TriggerBatch: when some event
// asked for Info, one entry per event in request order.
type TriggerBatchChannelsList struct {
	Batch []TriggerBatchChannelListItem `json:"batch"`
}

// TriggerBatchChannelListItem holds the attributes reported for the channel
// of one batch event; a nil count was not reported.
type TriggerBatchChannelListItem struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// Trigger publishes eventName with data on channel.
func (c *Client) Trigger(channel string, eventName string, data interface{}) error {
	_, err := c.TriggerContext(context.Background(), []string{channel}, eventName, data, nil)
	return err
}

// TriggerMulti publishes eventName with data on channels (1 to 100).
func (c *Client) TriggerMulti(channels []string, eventName string, data interface{}) error {
	_, err := c.TriggerContext(context.Background(), channels, eventName, data, nil)
	return err
}

// TriggerWithParams is Trigger with a socket to exclude and attributes to
// report.
func (c *Client) TriggerWithParams(channel string, eventName string, data interface{}, params TriggerParams) (*TriggerChannelsList, error) {
	return c.TriggerMultiWithParams([]string{channel}, eventName, data, params)
}

// TriggerMultiWithParams is TriggerMulti with a socket to exclude and
// attributes to report.
func (c *Client) TriggerMultiWithParams(channels []string, eventName string, data interface{}, params TriggerParams) (*TriggerChannelsList, error) {
	res, err := c.TriggerContext(context.Background(), channels, eventName, data, params.options())
	if err != nil {
		return nil, err
	}
	out := &TriggerChannelsList{}
	if err := json.Unmarshal(res.Raw, out); err != nil {
		return nil, fmt.Errorf("pusher: trigger: decode response: %w", err)
	}
	return out, nil
}

// TriggerExclusive publishes eventName on channel to every connection but
// socketID.
//
// Deprecated: use TriggerWithParams, as in pusher-http-go.
func (c *Client) TriggerExclusive(channel string, eventName string, data interface{}, socketID string) error {
	_, err := c.TriggerWithParams(channel, eventName, data, TriggerParams{SocketID: &socketID})
	return err
}

// TriggerMultiExclusive publishes eventName on channels to every connection
// but socketID.
//
// Deprecated: use TriggerMultiWithParams, as in pusher-http-go.
func (c *Client) TriggerMultiExclusive(channels []string, eventName string, data interface{}, socketID string) error {
	_, err := c.TriggerMultiWithParams(channels, eventName, data, TriggerParams{SocketID: &socketID})
	return err
}

// TriggerBatch publishes several events in one request (Pusher accepts at
// most 10).
func (c *Client) TriggerBatch(batch []Event) (*TriggerBatchChannelsList, error) {
	return c.TriggerBatchContext(context.Background(), batch)
}

// SendToUser publishes eventName to every connection of the signed-in user
// userId.
func (c *Client) SendToUser(userId string, eventName string, data interface{}) error {
	return c.SendToUserContext(context.Background(), userId, eventName, data)
}

// Channels lists the app's occupied channels.
func (c *Client) Channels(params ChannelsParams) (*ChannelsList, error) {
	return c.ChannelsContext(context.Background(), params)
}

// Channel returns the state of channel name.
func (c *Client) Channel(name string, params ChannelParams) (*Channel, error) {
	return c.ChannelContext(context.Background(), name, params)
}

// GetChannelUsers returns the distinct users of presence channel name.
func (c *Client) GetChannelUsers(name string) (*Users, error) {
	return c.GetChannelUsersContext(context.Background(), name)
}

// TerminateUserConnections closes every connection of the signed-in user
// userId.
func (c *Client) TerminateUserConnections(userId string) error {
	return c.TerminateUserConnectionsContext(context.Background(), userId)
}

// AuthorizePrivateChannel answers a client's authorization request for a
// private-* or private-encrypted-* channel; params is the form body
// pusher-js posts. The result is the JSON to return with status 200.
func (c *Client) AuthorizePrivateChannel(params []byte) (response []byte, err error) {
	return c.AuthorizeChannel(params, nil)
}

// AuthorizePresenceChannel answers a client's authorization request for a
// presence-* channel, with member as its channel_data.
func (c *Client) AuthorizePresenceChannel(params []byte, member MemberData) (response []byte, err error) {
	return c.AuthorizeChannel(params, &member)
}

// AuthenticatePrivateChannel is AuthorizePrivateChannel.
//
// Deprecated: use AuthorizePrivateChannel, as in pusher-http-go.
func (c *Client) AuthenticatePrivateChannel(params []byte) (response []byte, err error) {
	return c.AuthorizePrivateChannel(params)
}

// AuthenticatePresenceChannel is AuthorizePresenceChannel.
//
// Deprecated: use AuthorizePresenceChannel, as in pusher-http-go.
func (c *Client) AuthenticatePresenceChannel(params []byte, member MemberData) (response []byte, err error) {
	return c.AuthorizePresenceChannel(params, member)
}

// appPath matches the path of a Pusher URL: /apps/<app id>.
var appPath = regexp.MustCompile(`^/apps/([^/]+)/?$`)

// ClientFromURL builds a Client from a URL such as
// "http://key:secret@127.0.0.1:6001/apps/app-id". An https scheme sets
// Secure. Unlike pusher-http-go, which accepts only numeric app ids, any
// non-empty app id without "/" is accepted (Pixiu's ids are strings).
func ClientFromURL(serverURL string) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("pusher: client from url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("pusher: client from url: scheme %q, want http or https", u.Scheme)
	}
	m := appPath.FindStringSubmatch(u.Path)
	if m == nil {
		return nil, errors.New("pusher: client from url: no app id: the path must be /apps/<app id>")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, errors.New("pusher: client from url: missing <key>:<secret>")
	}
	secret, ok := u.User.Password()
	if !ok || secret == "" {
		return nil, errors.New("pusher: client from url: missing <secret>")
	}
	if u.Host == "" || strings.ContainsAny(u.Host, "/?#@") {
		return nil, fmt.Errorf("pusher: client from url: invalid host %q", u.Host)
	}
	return &Client{AppID: m[1], Key: u.User.Username(), Secret: secret, Host: u.Host, Secure: u.Scheme == "https"}, nil
}

// ClientFromEnv builds a Client with ClientFromURL from the URL in the
// environment variable key (such as "PUSHER_URL").
func ClientFromEnv(key string) (*Client, error) {
	v := os.Getenv(key)
	if v == "" {
		return nil, fmt.Errorf("pusher: client from env: %s is not set", key)
	}
	return ClientFromURL(v)
}

// options converts official parameters to Pixiu's TriggerOptions.
func (p TriggerParams) options() *TriggerOptions {
	return &TriggerOptions{SocketID: deref(p.SocketID), Info: deref(p.Info)}
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
