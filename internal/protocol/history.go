package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
)

// History ids (issue 15) are "<unix ms>-<seq>", the shape of Redis stream
// ids, on both engines; they order a channel's events.

// MaxHistoryIDLen bounds an id a client may send (two uint64 and a dash).
const MaxHistoryIDLen = 41

// ParseHistoryID splits a history id; ok is false for anything else.
func ParseHistoryID(id string) (ms, seq uint64, ok bool) {
	if len(id) > MaxHistoryIDLen {
		return 0, 0, false
	}
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			a, err1 := strconv.ParseUint(id[:i], 10, 64)
			b, err2 := strconv.ParseUint(id[i+1:], 10, 64)
			return a, b, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}

// Recovery events (issue 15). A client (the recovery script Pixiu serves)
// sends pixiu:recover on a channel it is subscribed to; the server answers on
// that channel with the kept events after since, then pixiu:recovered, or
// with pixiu:recovery_failed.
const (
	EventRecover        = "pixiu:recover"
	EventRecovered      = "pixiu:recovered"
	EventRecoveryFailed = "pixiu:recovery_failed"
)

// MaxRecoverExclude bounds the socket ids a recover request may list.
const MaxRecoverExclude = 10

// Recover is the data of pixiu:recover: {"since": id, "exclude": [socket ids]}.
// Since "" asks only for the channel's newest id (pixiu:recovered's last_id);
// "0-0" for every kept event. Exclude lists the client's earlier socket ids,
// whose own publications (sent with socket_id) it must not get back.
type Recover struct {
	Since   string   `json:"since"`
	Exclude []string `json:"exclude"`
}

// DecodeRecover decodes and bounds pixiu:recover data (an object, or a JSON
// string holding one).
func DecodeRecover(raw json.RawMessage) (Recover, error) {
	var r Recover
	if s := DataString(raw); s != "" {
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, errors.New(`expected {"since": "<id>", "exclude": ["<socket id>", …]}`)
	}
	if _, _, ok := ParseHistoryID(r.Since); r.Since != "" && !ok {
		return r, errors.New(`since must be an event id "<ms>-<seq>"`)
	}
	if len(r.Exclude) > MaxRecoverExclude {
		return r, errors.New("exclude lists at most " + strconv.Itoa(MaxRecoverExclude) + " socket ids")
	}
	for _, s := range r.Exclude {
		if !ValidSocketID(s) {
			return r, errors.New("exclude holds an invalid socket id")
		}
	}
	return r, nil
}
