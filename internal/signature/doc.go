// Package signature implements every HMAC-SHA256 signature of the Pusher
// Channels protocol (protocol.md §5, §6.2, §7.1): channel authorization
// ("key:hex" over socket_id:channel[:channel_data]), user authentication
// (socket_id::user::user_data), REST request signing and verification
// (auth_key, auth_timestamp, auth_version, body_md5, auth_signature) and
// webhook signatures (X-Pusher-Signature).
//
// The package is pure: it imports only the standard library, keeps no state,
// does no I/O and never reads the clock (callers pass now). Every comparison
// of a secret-derived value is constant time. All functions are safe for
// concurrent use.
//
// Failures are returned as *RequestError, whose Kind is one of the package's
// sentinels (check with errors.Is) and whose Message is the Pusher-style text
// a server may show to the client.
package signature
