package signature

import (
	"errors"
	"strings"
	"testing"
)

// Credentials of the vectors in protocol.md §5–§7.
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecSocket = "1234.1234"
)

func TestHMAC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg, want string
	}{
		{"private", "1234.1234:private-foobar", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"user", `1234.1234::user::{"id":"12345"}`, "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
		{"presence", `1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
		{"encrypted", "1234.1234:private-encrypted-foo", "e85caab4331194145d44feae15aea9539ea50631afacbc593a9555ceadc42357"},
		{"rest post", "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"},
		{"rest get", "GET\n/apps/3/channels\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count", "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := HMAC(vecSecret, tc.msg); got != tc.want {
				t.Fatalf("HMAC(%q) = %s, want %s", tc.msg, got, tc.want)
			}
		})
	}
}

// authVectors are the channel and user auth vectors of protocol.md §5.
var authVectors = []struct {
	name, channel, channelData, userData, want string
	user                                       bool
}{
	{name: "private", channel: "private-foobar", want: "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
	{name: "presence", channel: "presence-foobar", channelData: `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, want: "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
	{name: "encrypted", channel: "private-encrypted-foo", want: "e85caab4331194145d44feae15aea9539ea50631afacbc593a9555ceadc42357"},
	{name: "user", user: true, userData: `{"id":"12345"}`, want: "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
}

func TestAuthVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range authVectors {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			var err error
			if tc.user {
				got = UserAuth(vecKey, vecSecret, vecSocket, tc.userData)
				err = VerifyUserAuth(vecKey, vecSecret, got, vecSocket, tc.userData)
			} else {
				got = ChannelAuth(vecKey, vecSecret, vecSocket, tc.channel, tc.channelData)
				err = VerifyChannelAuth(vecKey, vecSecret, got, vecSocket, tc.channel, tc.channelData)
			}
			if want := vecKey + ":" + tc.want; got != want {
				t.Fatalf("auth = %s, want %s", got, want)
			}
			if err != nil {
				t.Fatalf("verify own auth: %v", err)
			}
		})
	}
}

func TestVerifyChannelAuthFailures(t *testing.T) {
	t.Parallel()
	good := ChannelAuth(vecKey, vecSecret, vecSocket, "private-foobar", "")
	sig := good[len(vecKey)+1:]
	tests := []struct {
		name, auth, channel, channelData string
		want                             error
		wantMsg                          string
	}{
		{name: "other key", auth: "otherkey:" + sig, channel: "private-foobar", want: ErrKeyMismatch, wantMsg: "Invalid key in subscription auth data: 'otherkey'"},
		{name: "no colon", auth: sig, channel: "private-foobar", want: ErrKeyMismatch},
		{name: "empty", auth: "", channel: "private-foobar", want: ErrKeyMismatch},
		{name: "other channel", auth: good, channel: "private-other", want: ErrBadSignature,
			wantMsg: "Invalid signature: Expected HMAC SHA256 hex digest of 1234.1234:private-other, but got " + sig},
		{name: "unexpected channel data", auth: good, channel: "private-foobar", channelData: `{"user_id":"1"}`, want: ErrBadSignature,
			wantMsg: `Invalid signature: Expected HMAC SHA256 hex digest of 1234.1234:private-foobar:{"user_id":"1"}, but got ` + sig},
		{name: "truncated sig", auth: good[:len(good)-2], channel: "private-foobar", want: ErrBadSignature},
		{name: "not hex", auth: vecKey + ":" + strings.Repeat("z", 64), channel: "private-foobar", want: ErrBadSignature},
		{name: "empty sig", auth: vecKey + ":", channel: "private-foobar", want: ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyChannelAuth(vecKey, vecSecret, tc.auth, vecSocket, tc.channel, tc.channelData)
			checkErr(t, err, tc.want, tc.wantMsg)
		})
	}
}

func TestVerifyUserAuthFailures(t *testing.T) {
	t.Parallel()
	data := `{"id":"12345"}`
	good := UserAuth(vecKey, vecSecret, vecSocket, data)
	checkErr(t, VerifyUserAuth(vecKey, vecSecret, good, vecSocket, `{"id":"1"}`), ErrBadSignature,
		`Invalid signature: Expected HMAC SHA256 hex digest of 1234.1234::user::{"id":"1"}, but got `+good[len(vecKey)+1:])
	checkErr(t, VerifyUserAuth(vecKey, vecSecret, good, "1.1", data), ErrBadSignature, "")
	checkErr(t, VerifyUserAuth("k2", vecSecret, good, vecSocket, data), ErrKeyMismatch, "")
	// Upper-case hex carries the same MAC and is accepted.
	if err := VerifyUserAuth(vecKey, vecSecret, vecKey+":"+strings.ToUpper(good[len(vecKey)+1:]), vecSocket, data); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	body := []byte(`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`)
	const want = "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
	tests := []struct {
		name, secret, sig string
		body              []byte
		ok                bool
	}{
		{"vector", vecSecret, want, body, true},
		{"other secret", "nope", want, body, false},
		{"other body", vecSecret, want, append([]byte(nil), body[1:]...), false},
		{"truncated", vecSecret, want[:63], body, false},
		{"empty sig", vecSecret, "", body, false},
	}
	if got := Webhook(vecSecret, body); got != want {
		t.Fatalf("Webhook = %s, want %s", got, want)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := VerifyWebhook(tc.secret, tc.body, tc.sig); got != tc.ok {
				t.Fatalf("VerifyWebhook = %v, want %v", got, tc.ok)
			}
		})
	}
}

// checkErr asserts err is a *RequestError of kind want and, when wantMsg is
// not empty, carries exactly that message.
func checkErr(t *testing.T, err, want error, wantMsg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want kind %v", err, want)
	}
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("err %T is not a *RequestError", err)
	}
	if wantMsg != "" && err.Error() != wantMsg {
		t.Fatalf("message:\n got %s\nwant %s", err.Error(), wantMsg)
	}
}
