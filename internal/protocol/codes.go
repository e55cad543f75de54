package protocol

import "strconv"

// Error is a protocol error: a pusher:error code (or none) and a message.
// Codes double as WebSocket close codes (protocol.md §1.3):
//   - 4000–4099: the client must not reconnect unchanged;
//   - 4100–4199: the client backs off, then reconnects;
//   - 4200–4299: the client reconnects immediately;
//   - 4300–4399: sent as pusher:error only, never as a close code.
//
// Code 0 means "no code": it is written as "code":null, as Pusher does for
// subscription and validation errors.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return "pusher: " + e.Message
	}
	return "pusher " + strconv.Itoa(e.Code) + ": " + e.Message
}

// Close codes and pusher:error codes (protocol.md §1.3).
const (
	CodeSSLOnly             = 4000
	CodeAppNotFound         = 4001
	CodeAppDisabled         = 4003
	CodeOverConnectionQuota = 4004
	CodePathNotFound        = 4005
	CodeInvalidVersion      = 4006
	CodeUnsupportedProtocol = 4007
	CodeNoProtocol          = 4008
	CodeUnauthorized        = 4009
	CodeOverCapacity        = 4100
	CodeReconnect           = 4200
	CodePongNotReceived     = 4201
	CodeInactive            = 4202
	CodeClientEventRate     = 4301
	CodeWatchlistLimit      = 4302
)

// Errors sent before closing a connection.
var (
	ErrAppNotFound        = &Error{CodeAppNotFound, "App key not found"}
	ErrAppDisabled        = &Error{CodeAppDisabled, "Application disabled"}
	ErrOverQuota          = &Error{CodeOverConnectionQuota, "Application is over connection quota"}
	ErrPathNotFound       = &Error{CodePathNotFound, "Path not found"}
	ErrUnsupportedVersion = &Error{CodeUnsupportedProtocol, "Unsupported protocol version"}
	ErrNoProtocol         = &Error{CodeNoProtocol, "No protocol version supplied"}
	ErrInvalidVersion     = &Error{CodeInvalidVersion, "Invalid version string format"}
	ErrSlowConsumer       = &Error{CodeOverCapacity, "Connection too slow to receive messages (outbound buffer full)"}
	ErrShutdown           = &Error{CodeReconnect, "Please reconnect immediately"}
	// ErrClusterUnavailable closes a socket whose subscription the cluster
	// engine could not record (Redis unreachable): clients reconnect after
	// backing off and subscribe again, instead of staying unsubscribed.
	ErrClusterUnavailable = &Error{CodeOverCapacity, "Over capacity: the cluster is unavailable, reconnect later"}
	ErrPongTimeout        = &Error{CodePongNotReceived, "Pong reply not received"}
	ErrTerminated         = &Error{CodeUnauthorized, "You got disconnected by the app."}
	// ErrOriginNotAllowed refuses a handshake whose Origin the app does not
	// allow. Pusher documents no code for it; 4009 (as Laravel Reverb) is in
	// the don't-reconnect range, so pusher-js stops retrying.
	ErrOriginNotAllowed = &Error{CodeUnauthorized, "Origin not allowed"}
	// ErrNotAuthorizedInTime closes a connection of an app with authorized
	// connections (user_auth) that neither signed in nor subscribed to a
	// private or presence channel in time (protocol.md §3.10).
	ErrNotAuthorizedInTime = &Error{CodeUnauthorized, "Connection not authorized within timeout"}
	ErrClientEventRate     = &Error{CodeClientEventRate, "Client event rejected due to rate limit"}
	ErrWatchlistLimit      = &Error{CodeWatchlistLimit, "Watchlist limit exceeded. Only the first 100 user IDs are accepted."}
)
