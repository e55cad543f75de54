package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// ChannelsParams filter and annotate the channel list. The zero value lists
// every occupied channel.
type ChannelsParams struct {
	// FilterByPrefix keeps only channels whose name starts with it.
	FilterByPrefix *string
	// Info is a comma list of attributes; Pusher documents "user_count",
	// which requires FilterByPrefix "presence-".
	Info *string
}

// ChannelParams annotate the state of one channel.
type ChannelParams struct {
	// Info is a comma list of attributes: "user_count" (presence),
	// "subscription_count", "cache" (cache channels).
	Info *string
}

// ChannelsList is the answer to Channels: the occupied channels.
type ChannelsList struct {
	Channels map[string]ChannelListItem `json:"channels"`
	// Raw is the server's JSON answer as received.
	Raw json.RawMessage `json:"-"`
}

// ChannelListItem is one channel of ChannelsList. A count is zero when the
// server did not report it.
type ChannelListItem struct {
	UserCount         int `json:"user_count"`
	SubscriptionCount int `json:"subscription_count,omitempty"`
}

// Users is the answer to GetChannelUsers.
type Users struct {
	List []User `json:"users"`
}

// Channel is the state of one channel.
type Channel struct {
	Name              string     `json:"-"`
	Occupied          bool       `json:"occupied"`
	UserCount         int        `json:"user_count,omitempty"`
	SubscriptionCount int        `json:"subscription_count,omitempty"`
	Cache             *CacheInfo `json:"cache,omitempty"`
	// Raw is the server's JSON answer as received.
	Raw json.RawMessage `json:"-"`
}

// CacheInfo is the cached event of a cache channel.
type CacheInfo struct {
	Data string `json:"data"`
	TTL  int    `json:"ttl"`
}

// User is a member of a presence channel.
type User struct {
	ID string `json:"id"`
}

// ChannelsContext lists the app's occupied channels.
func (c *Client) ChannelsContext(ctx context.Context, params ChannelsParams) (*ChannelsList, error) {
	q := url.Values{}
	if p := deref(params.FilterByPrefix); p != "" {
		q.Set("filter_by_prefix", p)
	}
	if i := deref(params.Info); i != "" {
		q.Set("info", i)
	}
	b, err := c.do(ctx, http.MethodGet, "/channels", q, nil)
	if err != nil {
		return nil, err
	}
	res := &ChannelsList{Raw: b}
	if err := json.Unmarshal(b, res); err != nil {
		return nil, fmt.Errorf("pusher: channels: decode response: %w", err)
	}
	return res, nil
}

// ChannelContext returns the state of channel name.
func (c *Client) ChannelContext(ctx context.Context, name string, params ChannelParams) (*Channel, error) {
	if err := checkChannel(name); err != nil {
		return nil, err
	}
	q := url.Values{}
	if i := deref(params.Info); i != "" {
		q.Set("info", i)
	}
	b, err := c.do(ctx, http.MethodGet, "/channels/"+name, q, nil)
	if err != nil {
		return nil, err
	}
	res := &Channel{Name: name, Raw: b}
	if err := json.Unmarshal(b, res); err != nil {
		return nil, fmt.Errorf("pusher: channel: decode response: %w", err)
	}
	return res, nil
}

// GetChannelUsersContext returns the distinct users of a presence channel.
func (c *Client) GetChannelUsersContext(ctx context.Context, channel string) (*Users, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	res := &Users{}
	if err := c.doJSON(ctx, http.MethodGet, "/channels/"+channel+"/users", nil, nil, res); err != nil {
		return nil, err
	}
	return res, nil
}

// TerminateUserConnectionsContext closes every connection of the signed-in
// user userID.
func (c *Client) TerminateUserConnectionsContext(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var res struct{}
	return c.doJSON(ctx, http.MethodPost, "/users/"+userID+"/terminate_connections", nil, []byte("{}"), &res)
}
