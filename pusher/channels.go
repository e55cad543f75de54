package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ChannelsParams filter and annotate the channel list. The zero value lists
// every occupied channel.
type ChannelsParams struct {
	// FilterByPrefix keeps only channels whose name starts with it.
	FilterByPrefix string
	// Info is a comma list of attributes; Pusher documents "user_count",
	// which requires FilterByPrefix "presence-".
	Info string
}

// ChannelsList is the answer to Channels: the occupied channels.
type ChannelsList struct {
	Channels map[string]ChannelInfo `json:"channels"`
	// Raw is the server's JSON answer as received.
	Raw json.RawMessage `json:"-"`
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

// Channels lists the app's occupied channels. params may be nil.
func (c *Client) Channels(ctx context.Context, params *ChannelsParams) (*ChannelsList, error) {
	q := url.Values{}
	if params != nil {
		if params.FilterByPrefix != "" {
			q.Set("filter_by_prefix", params.FilterByPrefix)
		}
		if params.Info != "" {
			q.Set("info", params.Info)
		}
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

// Channel returns the state of channel name. info names the attributes to
// report: "user_count" (presence), "subscription_count", "cache" (cache
// channels).
func (c *Client) Channel(ctx context.Context, name string, info ...string) (*Channel, error) {
	if err := checkChannel(name); err != nil {
		return nil, err
	}
	q := url.Values{}
	if len(info) > 0 {
		q.Set("info", strings.Join(info, ","))
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

// Users returns the distinct users of a presence channel.
func (c *Client) Users(ctx context.Context, channel string) ([]User, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	var res struct {
		Users []User `json:"users"`
	}
	if err := c.doJSON(ctx, http.MethodGet, "/channels/"+channel+"/users", nil, nil, &res); err != nil {
		return nil, err
	}
	return res.Users, nil
}

// TerminateUserConnections closes every connection of the signed-in user
// userID.
func (c *Client) TerminateUserConnections(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var res struct{}
	return c.doJSON(ctx, http.MethodPost, "/users/"+userID+"/terminate_connections", nil, []byte("{}"), &res)
}
