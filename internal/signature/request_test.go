package signature

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

const (
	vecTimestamp = 1353088179
	vecPostBody  = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	vecPostSig   = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	vecGetSig    = "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291"
	maxSkew      = 600 * time.Second
)

var vecNow = time.Unix(vecTimestamp, 0)

// requestCase is a REST request as a server receives it: a raw query string
// (parsed the way net/http does) and a body.
type requestCase struct {
	name     string
	method   string
	path     string
	rawQuery string
	body     string
	now      time.Time
	want     error
	wantMsg  string
}

// mustQuery parses raw like r.URL.Query() does.
func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("parse query %q: %v", raw, err)
	}
	return q
}

// signedRaw returns "params&auth_signature=HMAC(method\npath\nsigned)" where
// signed is the canonical string computed by hand (not by this package).
func signedRaw(method, path, params, signed string) string {
	return params + "&auth_signature=" + HMAC(vecSecret, method+"\n"+path+"\n"+signed)
}

const vecAuth = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0"

var requestCases = []requestCase{
	{name: "doc post vector", method: "POST", path: "/apps/3/events",
		rawQuery: vecAuth + "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=" + vecPostSig, body: vecPostBody},
	{name: "get vector", method: "GET", path: "/apps/3/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig},
	{name: "lower-case method", method: "get", path: "/apps/3/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig},
	{name: "terminate body {}", method: "POST", path: "/apps/3/users/1/terminate_connections",
		rawQuery: signedRaw("POST", "/apps/3/users/1/terminate_connections", vecAuth+"&body_md5=99914b932bd37a50b983c5e7c90ae93b",
			vecAuth+"&body_md5=99914b932bd37a50b983c5e7c90ae93b"), body: "{}"},
	{name: "php percent-encoded value", method: "GET", path: "/apps/3/channels/c1",
		rawQuery: signedRaw("GET", "/apps/3/channels/c1", vecAuth+"&info=user_count%2Csubscription_count",
			vecAuth+"&info=user_count,subscription_count")},
	{name: "php array joined with comma", method: "POST", path: "/apps/3/events",
		rawQuery: signedRaw("POST", "/apps/3/events", vecAuth+"&channels%5B%5D=a&channels%5B%5D=b&name=e",
			vecAuth+"&channels[]=a,b&name=e")},
	{name: "upper-case key lowercased", method: "GET", path: "/apps/3/channels",
		rawQuery: signedRaw("GET", "/apps/3/channels", vecAuth+"&FILTER_BY_PREFIX=presence-", vecAuth+"&filter_by_prefix=presence-")},
	{name: "no auth_version", method: "GET", path: "/apps/3/channels",
		rawQuery: signedRaw("GET", "/apps/3/channels", "auth_key="+vecKey+"&auth_timestamp=1353088179", "auth_key="+vecKey+"&auth_timestamp=1353088179")},
	{name: "skew at limit", method: "GET", path: "/apps/3/channels", now: vecNow.Add(maxSkew),
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig},

	// Failures, one per kind and check.
	{name: "missing auth_key", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_timestamp=1353088179&auth_signature=" + vecGetSig, want: ErrMissingParam,
		wantMsg: "Missing required parameter: auth_key"},
	{name: "wrong auth_key", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_key=nope&auth_timestamp=1353088179&auth_signature=" + vecGetSig, want: ErrKeyMismatch,
		wantMsg: "auth_key should be a valid app key"},
	{name: "missing timestamp", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_key=" + vecKey + "&auth_signature=" + vecGetSig, want: ErrMissingParam},
	{name: "timestamp not a number", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_key=" + vecKey + "&auth_timestamp=soon&auth_signature=" + vecGetSig, want: ErrTimestamp},
	{name: "timestamp expired", method: "GET", path: "/apps/3/channels", now: vecNow.Add(maxSkew + time.Second),
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig, want: ErrTimestamp,
		wantMsg: "Timestamp expired: Given timestamp (1353088179) not within 600s of server time (1353088780)"},
	{name: "timestamp in the future", method: "GET", path: "/apps/3/channels", now: vecNow.Add(-maxSkew - time.Second),
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig, want: ErrTimestamp},
	{name: "timestamp huge", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_key=" + vecKey + "&auth_timestamp=-9223372036854775808&auth_signature=" + vecGetSig, want: ErrTimestamp},
	{name: "bad version", method: "GET", path: "/apps/3/channels",
		rawQuery: "auth_key=" + vecKey + "&auth_timestamp=1353088179&auth_version=2.0&auth_signature=" + vecGetSig, want: ErrVersion},
	{name: "missing body_md5", method: "POST", path: "/apps/3/events",
		rawQuery: vecAuth + "&auth_signature=" + vecPostSig, body: vecPostBody, want: ErrBodyMD5},
	{name: "wrong body_md5", method: "POST", path: "/apps/3/events",
		rawQuery: vecAuth + "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=" + vecPostSig, body: vecPostBody + " ", want: ErrBodyMD5,
		wantMsg: "Invalid body_md5: expected 8c604c0dd00c1224de36e41b5ae65836, but got ec365a775a4cd0599faeb73354201b6f"},
	{name: "missing signature", method: "GET", path: "/apps/3/channels", rawQuery: vecAuth, want: ErrMissingParam,
		wantMsg: "Missing required parameter: auth_signature"},
	{name: "wrong path", method: "GET", path: "/apps/4/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig, want: ErrBadSignature,
		wantMsg: `Invalid signature: you should have sent HmacSHA256Hex("GET\n/apps/4/channels\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count", your_secret), but you sent "` + vecGetSig + `"`},
	{name: "wrong method", method: "POST", path: "/apps/3/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=" + vecGetSig, want: ErrBadSignature},
	{name: "extra param", method: "GET", path: "/apps/3/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&x=1&" + vecAuth + "&auth_signature=" + vecGetSig, want: ErrBadSignature},
	{name: "signature not hex", method: "GET", path: "/apps/3/channels",
		rawQuery: "filter_by_prefix=presence-&info=user_count&" + vecAuth + "&auth_signature=xyz", want: ErrBadSignature},
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := tc.now
			if now.IsZero() {
				now = vecNow
			}
			err := VerifyRequest(vecKey, vecSecret, tc.method, tc.path, mustQuery(t, tc.rawQuery), []byte(tc.body), now, maxSkew)
			checkErr(t, err, tc.want, tc.wantMsg)
		})
	}
}

func TestVerifyRequestWrongSecret(t *testing.T) {
	t.Parallel()
	q := mustQuery(t, "filter_by_prefix=presence-&info=user_count&"+vecAuth+"&auth_signature="+vecGetSig)
	checkErr(t, VerifyRequest(vecKey, "other", "GET", "/apps/3/channels", q, nil, vecNow, maxSkew), ErrBadSignature, "")
}

func TestSignRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path string
		query              url.Values
		body               string
		want               url.Values
	}{
		{name: "doc post vector", method: "POST", path: "/apps/3/events", body: vecPostBody, want: url.Values{
			"auth_key": {vecKey}, "auth_timestamp": {strconv.Itoa(vecTimestamp)}, "auth_version": {"1.0"},
			"body_md5": {"ec365a775a4cd0599faeb73354201b6f"}, "auth_signature": {vecPostSig},
		}},
		{name: "get vector", method: "GET", path: "/apps/3/channels",
			query: url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, want: url.Values{
				"filter_by_prefix": {"presence-"}, "info": {"user_count"},
				"auth_key": {vecKey}, "auth_timestamp": {strconv.Itoa(vecTimestamp)}, "auth_version": {"1.0"},
				"auth_signature": {vecGetSig},
			}},
		{name: "stale auth params replaced", method: "GET", path: "/apps/3/channels",
			query: url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}, "auth_signature": {"x"}, "body_md5": {"y"}, "auth_key": {"z"}},
			want: url.Values{
				"filter_by_prefix": {"presence-"}, "info": {"user_count"},
				"auth_key": {vecKey}, "auth_timestamp": {strconv.Itoa(vecTimestamp)}, "auth_version": {"1.0"},
				"auth_signature": {vecGetSig},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var before string
			if tc.query != nil {
				before = tc.query.Encode()
			}
			got := SignRequest(vecKey, vecSecret, tc.method, tc.path, tc.query, []byte(tc.body), vecNow)
			if got.Encode() != tc.want.Encode() {
				t.Fatalf("SignRequest:\n got %s\nwant %s", got.Encode(), tc.want.Encode())
			}
			if tc.query != nil && tc.query.Encode() != before {
				t.Fatalf("SignRequest modified its input query")
			}
			// What the SDK sends, the server accepts.
			sent := mustQuery(t, got.Encode())
			if err := VerifyRequest(vecKey, vecSecret, tc.method, tc.path, sent, []byte(tc.body), vecNow, maxSkew); err != nil {
				t.Fatalf("verify signed request: %v", err)
			}
		})
	}
}

// FuzzVerifyRequest checks that VerifyRequest never panics on arbitrary
// input, and that any request signed by SignRequest verifies after the
// encode/parse round trip it makes over HTTP.
func FuzzVerifyRequest(f *testing.F) {
	for _, tc := range requestCases {
		f.Add(tc.method, tc.path, tc.rawQuery, []byte(tc.body), int64(vecTimestamp))
	}
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte, now int64) {
		q, _ := url.ParseQuery(rawQuery) // keeps what parsed, as net/http does
		ts := time.Unix(now, 0)
		_ = VerifyRequest(vecKey, vecSecret, method, path, q, body, ts, maxSkew)

		signed := SignRequest(vecKey, vecSecret, method, path, q, body, ts)
		sent, err := url.ParseQuery(signed.Encode())
		if err != nil {
			t.Fatalf("reparse %q: %v", signed.Encode(), err)
		}
		if err := VerifyRequest(vecKey, vecSecret, method, path, sent, body, ts, maxSkew); err != nil {
			t.Fatalf("signed request does not verify: %v (query %q)", err, signed.Encode())
		}
	})
}
