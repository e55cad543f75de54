package wsconn

import (
	"bytes"
	"encoding/json"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// checkSignin refuses pusher:signin data that the protocol does not allow,
// before its signature is checked (protocol.md §3.10): user_data must be a
// JSON string (the JSON-encoded user), that user a JSON object with a string
// "id", and its user_info no larger than a presence member's (1 KB, as
// channel_data's). Data it cannot read at all is left to
// protocol.DecodeSignin's own error. Pure; any goroutine.
func checkSignin(raw json.RawMessage) *protocol.Error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' { // data sent as a JSON string
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		raw = []byte(s)
	}
	var d struct {
		UserData json.RawMessage `json:"user_data"`
	}
	if json.Unmarshal(raw, &d) != nil {
		return nil
	}
	ud := bytes.TrimSpace(d.UserData)
	if len(ud) == 0 {
		return nil
	}
	var user string
	if ud[0] != '"' || json.Unmarshal(ud, &user) != nil {
		return signinError("user_data must be a JSON string: the JSON-encoded user object")
	}
	var u struct {
		ID       json.RawMessage `json:"id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	obj := bytes.TrimSpace([]byte(user))
	if len(obj) == 0 || obj[0] != '{' || json.Unmarshal(obj, &u) != nil {
		return signinError("user_data must be a JSON object with a string \"id\"")
	}
	if id := bytes.TrimSpace(u.ID); len(id) == 0 || id[0] != '"' {
		return signinError("user_data must be a JSON object with a string \"id\"")
	}
	if len(u.UserInfo) > maxUserInfoBytes {
		var compact bytes.Buffer
		if json.Compact(&compact, u.UserInfo) != nil || compact.Len() > maxUserInfoBytes {
			return signinError("user_info is larger than 1 KB")
		}
	}
	return nil
}

func signinError(msg string) *protocol.Error {
	return &protocol.Error{Message: "Sign-in failed: " + msg}
}
