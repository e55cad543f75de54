package pusher

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/pixiu-io/pixiu/internal/signature"
)

// MemberData describes the user joining a presence channel. It becomes the
// channel_data of the authorization.
type MemberData struct {
	UserID   string            `json:"user_id"`
	UserInfo map[string]string `json:"user_info,omitempty"`
}

// channelAuthResponse is the JSON an app's auth endpoint returns to pusher-js
// (protocol.md §5).
type channelAuthResponse struct {
	Auth         string `json:"auth"`
	ChannelData  string `json:"channel_data,omitempty"`
	SharedSecret string `json:"shared_secret,omitempty"`
}

// AuthorizeChannel answers a client's channel authorization request. params
// is the form body pusher-js posts to the app's auth endpoint
// ("socket_id=..&channel_name=.."). presenceMember is required for presence-*
// channels and ignored for others. The result is the JSON to return with
// status 200: {"auth":..,"channel_data":..} and, for private-encrypted-*
// channels (which need Options.EncryptionMasterKey), "shared_secret".
func (c *Client) AuthorizeChannel(params []byte, presenceMember *MemberData) ([]byte, error) {
	socketID, channel, err := parseAuthParams(params, true)
	if err != nil {
		return nil, err
	}
	var res channelAuthResponse
	if isPresence(channel) {
		if presenceMember == nil || presenceMember.UserID == "" {
			return nil, fmt.Errorf("%w: presence channel %q needs member data with a user id", ErrInvalidParams, channel)
		}
		b, err := json.Marshal(presenceMember)
		if err != nil {
			return nil, fmt.Errorf("%w: member data: %w", ErrInvalidParams, err)
		}
		res.ChannelData = string(b)
	}
	if isEncrypted(channel) {
		key, err := c.sharedSecret(channel)
		if err != nil {
			return nil, err
		}
		res.SharedSecret = base64.StdEncoding.EncodeToString(key[:])
	}
	res.Auth = signature.ChannelAuth(c.Key, c.Secret, socketID, channel, res.ChannelData)
	return json.Marshal(res)
}

// AuthenticateUser answers a client's user authentication (sign-in) request.
// params is the form body pusher-js posts ("socket_id=.."); userData must
// hold a non-empty string "id" and may hold "user_info" and "watchlist". The
// result is the JSON {"auth":..,"user_data":..} to return with status 200.
func (c *Client) AuthenticateUser(params []byte, userData map[string]any) ([]byte, error) {
	socketID, _, err := parseAuthParams(params, false)
	if err != nil {
		return nil, err
	}
	if id, _ := userData["id"].(string); id == "" {
		return nil, fmt.Errorf(`%w: user data needs a non-empty string "id"`, ErrInvalidParams)
	}
	b, err := json.Marshal(userData)
	if err != nil {
		return nil, fmt.Errorf("%w: user data: %w", ErrInvalidParams, err)
	}
	return json.Marshal(struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}{signature.UserAuth(c.Key, c.Secret, socketID, string(b)), string(b)})
}

// parseAuthParams reads socket_id and, when wantChannel, channel_name from a
// form body, and validates them.
func parseAuthParams(params []byte, wantChannel bool) (socketID, channel string, err error) {
	form, err := url.ParseQuery(string(params))
	if err != nil {
		return "", "", fmt.Errorf("%w: auth body: %w", ErrInvalidParams, err)
	}
	socketID = form.Get("socket_id")
	if !validSocketID(socketID) {
		return "", "", fmt.Errorf("%w: %q", ErrInvalidSocketID, socketID)
	}
	if !wantChannel {
		return socketID, "", nil
	}
	channel = form.Get("channel_name")
	if err := checkChannel(channel); err != nil {
		return "", "", err
	}
	return socketID, channel, nil
}
