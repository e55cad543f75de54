package pusher

import (
	"errors"
	"strconv"
)

// Sentinels for conditions callers branch on. Returned errors wrap them with
// details; check with errors.Is.
var (
	// ErrInvalidChannel: a channel name is empty, too long or has a character
	// outside [-a-zA-Z0-9_=@,.;] (a "#server-to-user-" prefix is allowed).
	ErrInvalidChannel = errors.New("pusher: invalid channel name")
	// ErrTooManyChannels: a trigger names no channel or more than 100.
	ErrTooManyChannels = errors.New("pusher: too many channels")
	// ErrInvalidEvent: an event name is empty or longer than 200 bytes.
	ErrInvalidEvent = errors.New("pusher: invalid event name")
	// ErrDataTooLarge: event data exceeds Options.MaxDataBytes (10 KB).
	ErrDataTooLarge = errors.New("pusher: event data too large")
	// ErrInvalidSocketID: a socket id does not match ^\d+\.\d+$.
	ErrInvalidSocketID = errors.New("pusher: invalid socket id")
	// ErrInvalidUserID: a user id is empty, too long or has a character not
	// allowed in channel names.
	ErrInvalidUserID = errors.New("pusher: invalid user id")
	// ErrInvalidParams: an auth request body or user data is malformed.
	ErrInvalidParams = errors.New("pusher: invalid parameters")
	// ErrEncryption: encryption is not configured, an encrypted channel is
	// mixed with others in one trigger, or decryption failed.
	ErrEncryption = errors.New("pusher: encryption")
	// ErrInvalidWebhook: a webhook has the wrong key or signature, or a body
	// that is not a webhook.
	ErrInvalidWebhook = errors.New("pusher: invalid webhook")
	// ErrQueueFull: TriggerAsync found the queue full; the event was not queued.
	ErrQueueFull = errors.New("pusher: async queue full")
	// ErrClosed: TriggerAsync was called after Close.
	ErrClosed = errors.New("pusher: client closed")
)

// HTTPError is a non-2xx answer from the server. Body is the response body as
// text (Pusher returns plain-text messages such as "Timestamp expired: ...").
type HTTPError struct {
	Status int
	Body   string
}

// Error returns "pusher: http <status>: <body>".
func (e *HTTPError) Error() string {
	return "pusher: http " + strconv.Itoa(e.Status) + ": " + e.Body
}
