package pusher

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// Channel history is a Pixiu extension (not part of Pusher's API): channels
// an app's history settings name keep their recent events, each with an id
// "<ms>-<seq>" ascending in publish order.

// HistoryParams select the events ChannelHistoryContext returns. The zero
// value asks for the newest events (as many as the server allows, 100 by
// default).
type HistoryParams struct {
	// Limit is the most events to return (1 to the server's limit); 0 means
	// the server's limit.
	Limit int
	// Since, when set, asks for the events after this id (one the server
	// returned or delivered) instead of the newest ones.
	Since string
}

// HistoryEvent is one kept event.
type HistoryEvent struct {
	ID     string `json:"id"`
	Event  string `json:"event"`
	Data   string `json:"data"`
	UserID string `json:"user_id,omitempty"`
}

// History is the answer to ChannelHistoryContext: events oldest first.
type History struct {
	Events []HistoryEvent `json:"events"`
	// More is true when Since was given and more events follow the ones
	// returned: ask again with Since set to the last id.
	More bool `json:"more"`
}

// ErrHistoryGone: Since is no longer in the channel's history (the server
// answered 410): events after it may have been dropped, so refetch the
// state instead of catching up.
var ErrHistoryGone = errors.New("pusher: history: since is no longer kept")

// ChannelHistoryContext returns kept events of channel (Pixiu's
// GET /apps/{id}/channels/{name}/history). The server answers 404 (an
// *HTTPError) when the app keeps no history for the channel; a Since no
// longer kept returns an error wrapping ErrHistoryGone.
func (c *Client) ChannelHistoryContext(ctx context.Context, channel string, params HistoryParams) (*History, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	if params.Limit < 0 {
		return nil, errors.New("pusher: history: limit must not be negative")
	}
	q := url.Values{}
	if params.Limit > 0 {
		q.Set("limit", strconv.Itoa(params.Limit))
	}
	if params.Since != "" {
		q.Set("since", params.Since)
	}
	res := &History{}
	err := c.doJSON(ctx, http.MethodGet, "/channels/"+channel+"/history", q, nil, res)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusGone {
		return nil, errors.Join(ErrHistoryGone, err)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
