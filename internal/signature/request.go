package signature

import (
	"crypto/md5" //nolint:gosec // protocol.md §6.2: body_md5 is defined as MD5; it is an integrity tag, not a MAC
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names of the REST auth query parameters (protocol.md §6.2).
const (
	paramKey       = "auth_key"
	paramTimestamp = "auth_timestamp"
	paramVersion   = "auth_version"
	paramBodyMD5   = "body_md5"
	paramSignature = "auth_signature"

	authVersion = "1.0"
)

// SignRequest returns a copy of query (which may be nil) with auth_key,
// auth_timestamp, auth_version=1.0, body_md5 (only when len(body) > 0) and
// auth_signature set, exactly as the official SDKs sign REST calls. path is
// the request path as sent, e.g. "/apps/3/events". Encode the result with
// url.Values.Encode.
func SignRequest(key, secret, method, path string, query url.Values, body []byte, now time.Time) url.Values {
	q := make(url.Values, len(query)+5)
	for k, v := range query {
		q[k] = slices.Clone(v)
	}
	q.Set(paramKey, key)
	q.Set(paramTimestamp, strconv.FormatInt(now.Unix(), 10))
	q.Set(paramVersion, authVersion)
	if len(body) > 0 {
		sum := md5.Sum(body) //nolint:gosec // see import
		q.Set(paramBodyMD5, hex.EncodeToString(sum[:]))
	} else {
		delete(q, paramBodyMD5)
	}
	delete(q, paramSignature)
	var mac [sha256.Size]byte
	sumHMAC(&mac, secret, stringToSign(nil, method, path, q))
	q.Set(paramSignature, hex.EncodeToString(mac[:]))
	return q
}

// VerifyRequest verifies a signed REST request as Pusher does (protocol.md
// §6.2). query is the parsed, percent-decoded query (r.URL.Query()); path is
// the request path (r.URL.Path; a caller that wants to accept clients which
// signed an escaped path may retry with r.URL.EscapedPath()). The checks, in
// order:
//
//  1. auth_key is present and equals key (ErrMissingParam, ErrKeyMismatch);
//  2. auth_timestamp is an integer within maxSkew of now (ErrTimestamp);
//  3. auth_version is "1.0" or absent (ErrVersion);
//  4. for a non-empty body, body_md5 equals MD5(body) (ErrBodyMD5);
//  5. auth_signature equals HMAC-SHA256(secret, "METHOD\npath\ncanonical"),
//     compared in constant time (ErrMissingParam, ErrBadSignature).
//
// canonical is every parameter except auth_signature, keys lowercased and
// sorted, values decoded and not re-escaped, several values of one key joined
// with ",". Every error is a *RequestError with a Pusher-style message.
func VerifyRequest(key, secret, method, path string, query url.Values, body []byte, now time.Time, maxSkew time.Duration) error {
	if err := checkParams(key, query, body, now, maxSkew); err != nil {
		return err
	}
	sig := first(query, paramSignature)
	if sig == "" {
		return fail(ErrMissingParam, "Missing required parameter: auth_signature")
	}
	var buf [512]byte
	msg := stringToSign(buf[:0], method, path, query)
	var want, got [sha256.Size]byte
	sumHMAC(&want, secret, msg)
	if !decodeHex(got[:], sig) || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return fail(ErrBadSignature, badSignatureMessage(string(msg), sig))
	}
	return nil
}

// checkParams runs checks 1–4 of VerifyRequest.
func checkParams(key string, query url.Values, body []byte, now time.Time, maxSkew time.Duration) error {
	authKey, ok := query[paramKey]
	if !ok || len(authKey) == 0 || authKey[0] == "" {
		return fail(ErrMissingParam, "Missing required parameter: auth_key")
	}
	if authKey[0] != key {
		return fail(ErrKeyMismatch, "auth_key should be a valid app key")
	}
	if err := checkTimestamp(first(query, paramTimestamp), now, maxSkew); err != nil {
		return err
	}
	if v, ok := query[paramVersion]; ok && (len(v) != 1 || v[0] != authVersion) {
		return fail(ErrVersion, "Invalid auth_version: only 1.0 is supported")
	}
	if len(body) == 0 {
		return nil
	}
	given := first(query, paramBodyMD5)
	if given == "" {
		return fail(ErrBodyMD5, "Missing required parameter: body_md5 (the request has a body)")
	}
	sum := md5.Sum(body) //nolint:gosec // see import
	var got [md5.Size]byte
	if !decodeHex(got[:], given) || got != sum {
		return fail(ErrBodyMD5, "Invalid body_md5: expected "+hex.EncodeToString(sum[:])+", but got "+given)
	}
	return nil
}

func checkTimestamp(ts string, now time.Time, maxSkew time.Duration) error {
	if ts == "" {
		return fail(ErrMissingParam, "Missing required parameter: auth_timestamp")
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fail(ErrTimestamp, "Invalid auth_timestamp: should be an integer number of seconds, got "+ts)
	}
	n := now.Unix()
	skew := max(int64(maxSkew/time.Second), 0)
	// Subtract as uint64 bounds to avoid overflow on absurd timestamps.
	if (t > n && uint64(t)-uint64(n) > uint64(skew)) || (t < n && uint64(n)-uint64(t) > uint64(skew)) {
		return fail(ErrTimestamp, "Timestamp expired: Given timestamp ("+ts+") not within "+
			strconv.FormatInt(skew, 10)+"s of server time ("+strconv.FormatInt(n, 10)+")")
	}
	return nil
}

// param is one query parameter in canonical form.
type param struct {
	key  string // lowercased
	vals []string
}

func compareParams(a, b param) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return slices.Compare(a.vals, b.vals)
}

// stringToSign appends "METHOD\npath\ncanonical" to dst (see VerifyRequest).
// Sorting also by values makes the result deterministic when two keys differ
// only in case.
func stringToSign(dst []byte, method, path string, q url.Values) []byte {
	var stack [12]param
	ps := stack[:0]
	for k, v := range q {
		if k != paramSignature {
			ps = append(ps, param{key: strings.ToLower(k), vals: v})
		}
	}
	slices.SortFunc(ps, compareParams)
	dst = append(dst, strings.ToUpper(method)...)
	dst = append(dst, '\n')
	dst = append(dst, path...)
	dst = append(dst, '\n')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		for j, v := range p.vals {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, v...)
		}
	}
	return dst
}

// badSignatureMessage mimics Pusher's 401 text, escaping the newlines of the
// string to sign so the client sees exactly what to HMAC.
func badSignatureMessage(msg, sig string) string {
	return "Invalid signature: you should have sent HmacSHA256Hex(\"" +
		strings.ReplaceAll(msg, "\n", `\n`) + "\", your_secret), but you sent \"" + sig + "\""
}

func first(q url.Values, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
