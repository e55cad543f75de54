package signature

import "errors"

// Sentinels for the kinds of verification failure. Verify functions wrap them
// in a *RequestError; branch with errors.Is.
var (
	// ErrKeyMismatch: the key in an auth string or auth_key is not the app key.
	ErrKeyMismatch = errors.New("signature: key mismatch")
	// ErrBadSignature: the HMAC does not match.
	ErrBadSignature = errors.New("signature: bad signature")
	// ErrMissingParam: a required REST auth parameter is absent.
	ErrMissingParam = errors.New("signature: missing parameter")
	// ErrTimestamp: auth_timestamp is malformed or outside the allowed skew.
	ErrTimestamp = errors.New("signature: timestamp out of range")
	// ErrBodyMD5: body_md5 is absent for a non-empty body or does not match it.
	ErrBodyMD5 = errors.New("signature: body md5 mismatch")
	// ErrVersion: auth_version is present and not "1.0".
	ErrVersion = errors.New("signature: unsupported auth version")
)

// RequestError is a verification failure. Kind is one of the sentinels above;
// Message is the Pusher-style text suitable for the HTTP response body or a
// pusher:error message. It never contains the secret.
type RequestError struct {
	Kind    error
	Message string
}

// Error returns the Pusher-style message.
func (e *RequestError) Error() string { return e.Message }

// Unwrap returns Kind so errors.Is(err, ErrTimestamp) and friends work.
func (e *RequestError) Unwrap() error { return e.Kind }

func fail(kind error, msg string) error { return &RequestError{Kind: kind, Message: msg} }
