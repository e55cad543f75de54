package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// HMAC returns lowercase hex HMAC-SHA256(secret, msg).
func HMAC(secret, msg string) string {
	var sum [sha256.Size]byte
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(sum[:0]))
}

// ChannelAuth returns the "key:hex" auth string for a private, encrypted or
// presence channel. It signs "socketID:channel" or, when channelData != "",
// "socketID:channel:channelData" (protocol.md §5).
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + HMAC(secret, channelString(socketID, channel, channelData))
}

// UserAuth returns the "key:hex" auth string of pusher:signin, signing
// "socketID::user::userData" (protocol.md §5).
func UserAuth(key, secret, socketID, userData string) string {
	return key + ":" + HMAC(secret, userString(socketID, userData))
}

// VerifyChannelAuth checks a channel auth string ("key:hex") in constant time.
// It returns nil, or a *RequestError of kind ErrKeyMismatch (the key part is
// not key) or ErrBadSignature (message "Invalid signature: Expected HMAC
// SHA256 hex digest of <socket_id>:<channel>[:<channel_data>], but got <sig>").
func VerifyChannelAuth(key, secret, auth, socketID, channel, channelData string) error {
	return verifyAuth(key, secret, auth, channelString(socketID, channel, channelData),
		"Invalid key in subscription auth data: '")
}

// VerifyUserAuth checks a pusher:signin auth string ("key:hex") over
// "socketID::user::userData" in constant time, with the same errors as
// VerifyChannelAuth.
func VerifyUserAuth(key, secret, auth, socketID, userData string) error {
	return verifyAuth(key, secret, auth, userString(socketID, userData),
		"Invalid key in signin auth data: '")
}

// Webhook returns hex HMAC-SHA256(secret, body), the X-Pusher-Signature header
// of a webhook request (protocol.md §7.1).
func Webhook(secret string, body []byte) string {
	var sum [sha256.Size]byte
	return hex.EncodeToString(sumHMAC(&sum, secret, body))
}

// VerifyWebhook reports whether sig is the webhook signature of body. The
// comparison is constant time.
func VerifyWebhook(secret string, body []byte, sig string) bool {
	var want, got [sha256.Size]byte
	sumHMAC(&want, secret, body)
	return decodeHex(got[:], sig) && subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

func channelString(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

func userString(socketID, userData string) string {
	return socketID + "::user::" + userData
}

func verifyAuth(key, secret, auth, msg, keyMsg string) error {
	authKey, sig, _ := strings.Cut(auth, ":")
	if authKey != key { // the key is public: no need for constant time
		return fail(ErrKeyMismatch, keyMsg+clip(authKey, 128)+"'")
	}
	var want, got [sha256.Size]byte
	sumHMAC(&want, secret, []byte(msg))
	if !decodeHex(got[:], sig) || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		// What the client sent is echoed clipped: a signature is 64 hex
		// digits, and a string to sign past 2 KiB is not a mistake to debug.
		return fail(ErrBadSignature, "Invalid signature: Expected HMAC SHA256 hex digest of "+clip(msg, 2048)+", but got "+clip(sig, 128))
	}
	return nil
}

// sumHMAC writes HMAC-SHA256(secret, msg) into dst and returns it as a slice.
func sumHMAC(dst *[sha256.Size]byte, secret string, msg []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(msg)
	return mac.Sum(dst[:0])
}

// decodeHex decodes s into dst and reports whether s was exactly
// 2*len(dst) hex digits. It avoids converting s to a []byte.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	ok := true
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		ok = ok && ok1 && ok2
		dst[i] = hi<<4 | lo
	}
	return ok
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// clip returns s cut to n bytes, marked with "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
