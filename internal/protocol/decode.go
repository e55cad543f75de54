package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// ClientMessage is a decoded client→server frame (protocol.md §2). Data is
// kept raw: it may be an object, a string or missing.
type ClientMessage struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// ErrInvalidMessage is returned for frames that are not a JSON object with a
// string "event".
var ErrInvalidMessage = errors.New("protocol: invalid message")

// DecodeClientMessage decodes one text frame.
func DecodeClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return m, ErrInvalidMessage
	}
	if m.Event == "" {
		return m, ErrInvalidMessage
	}
	return m, nil
}

// DataString returns raw data as the string to forward: a JSON string is
// unquoted, null or missing is "", anything else is its JSON text (protocol.md
// §3.9: client event data is forwarded as a string).
func DataString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// Subscribe is the data of pusher:subscribe (protocol.md §3.4).
type Subscribe struct {
	Channel     string
	Auth        string
	ChannelData string // verbatim; empty if absent
	HasData     bool   // channel_data was present
}

// DecodeSubscribe decodes pusher:subscribe / pusher:unsubscribe data. The data
// may itself be a JSON string holding the object (some clients double-encode).
func DecodeSubscribe(raw json.RawMessage) (Subscribe, error) {
	var d struct {
		Channel     string          `json:"channel"`
		Auth        string          `json:"auth"`
		ChannelData json.RawMessage `json:"channel_data"`
	}
	if err := decodeObject(raw, &d); err != nil || d.Channel == "" {
		return Subscribe{}, ErrInvalidMessage
	}
	s := Subscribe{Channel: d.Channel, Auth: d.Auth}
	if len(d.ChannelData) > 0 && string(d.ChannelData) != "null" {
		s.ChannelData, s.HasData = DataString(d.ChannelData), true
	}
	return s, nil
}

// Signin is the data of pusher:signin (protocol.md §3.10).
type Signin struct {
	Auth     string
	UserData string
}

// DecodeSignin decodes pusher:signin data.
func DecodeSignin(raw json.RawMessage) (Signin, error) {
	var d struct {
		Auth     string          `json:"auth"`
		UserData json.RawMessage `json:"user_data"`
	}
	if err := decodeObject(raw, &d); err != nil || d.Auth == "" || len(d.UserData) == 0 {
		return Signin{}, ErrInvalidMessage
	}
	return Signin{Auth: d.Auth, UserData: DataString(d.UserData)}, nil
}

func decodeObject(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		raw = []byte(s)
	}
	return json.Unmarshal(raw, v)
}

// Member is a presence channel member: a user id and its user_info JSON.
type Member struct {
	UserID   string
	UserInfo json.RawMessage // compact JSON; nil when absent
}

// DecodeChannelData parses presence channel_data {"user_id":…,"user_info":…}.
// A numeric user_id is normalised to its decimal string (protocol.md §3.5).
func DecodeChannelData(s string) (Member, error) {
	var d struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return Member{}, errors.New("channel_data is not a JSON object")
	}
	id, err := userIDString(d.UserID)
	if err != nil {
		return Member{}, err
	}
	m := Member{UserID: id}
	if len(d.UserInfo) > 0 && string(d.UserInfo) != "null" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, d.UserInfo); err != nil {
			return Member{}, errors.New("user_info is not valid JSON")
		}
		m.UserInfo = buf.Bytes()
	}
	return m, nil
}

func userIDString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("channel_data must contain user_id")
	}
	var id string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", errors.New("user_id is not a valid string")
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", errors.New("user_id must be a string or a number")
		}
		if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			return "", errors.New("user_id must be a string or a number")
		}
		id = n.String()
	}
	if id == "" {
		return "", errors.New("user_id must not be empty")
	}
	if len(id) > 128 {
		return "", errors.New("user_id is longer than 128 characters")
	}
	return id, nil
}

// UserData is the parsed user_data of a sign-in (protocol.md §3.10).
type UserData struct {
	ID        string
	UserInfo  json.RawMessage
	Watchlist []string
}

// DecodeUserData parses sign-in user_data; id must be a non-empty string.
func DecodeUserData(s string) (UserData, error) {
	var d struct {
		ID        any             `json:"id"`
		UserInfo  json.RawMessage `json:"user_info"`
		Watchlist []any           `json:"watchlist"`
	}
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return UserData{}, errors.New("user_data is not a JSON object")
	}
	id, ok := d.ID.(string)
	if !ok || !ValidUserID(id) {
		return UserData{}, errors.New("user_data.id must be a non-empty string of channel-name characters")
	}
	u := UserData{ID: id}
	if len(d.UserInfo) > 0 && string(d.UserInfo) != "null" {
		var buf bytes.Buffer
		if json.Compact(&buf, d.UserInfo) == nil {
			u.UserInfo = buf.Bytes()
		}
	}
	for _, w := range d.Watchlist {
		switch v := w.(type) {
		case string:
			u.Watchlist = append(u.Watchlist, v)
		case float64:
			u.Watchlist = append(u.Watchlist, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	return u, nil
}
