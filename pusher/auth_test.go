package pusher_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pixiu-io/pixiu/internal/signature"
	"github.com/pixiu-io/pixiu/pusher"
)

func TestAuthorizeChannel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params string
		member *pusher.MemberData
		noKey  bool
		want   string // exact JSON answer, or "" to only verify the signature
		err    error
	}{
		{name: "private vector", params: "socket_id=1234.1234&channel_name=private-foobar",
			want: `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`},
		{name: "member ignored on private", params: "socket_id=1234.1234&channel_name=private-foobar", member: &pusher.MemberData{UserID: "1"},
			want: `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`},
		{name: "encrypted vector", params: "socket_id=1234.1234&channel_name=private-encrypted-foo",
			want: `{"auth":"278d425bdf160c739803:e85caab4331194145d44feae15aea9539ea50631afacbc593a9555ceadc42357","shared_secret":"E3I6KxLwqP1Rr/p1676Vpnrw23CkRdS5bkX5NazRkeY="}`},
		{name: "presence", params: "socket_id=1234.1234&channel_name=presence-foobar",
			member: &pusher.MemberData{UserID: "10", UserInfo: map[string]string{"name": "Mr. Channels"}}},
		{name: "form-encoded names", params: "channel_name=private-a%40b&socket_id=1.2"},
		{name: "presence without member", params: "socket_id=1234.1234&channel_name=presence-foobar", err: pusher.ErrInvalidParams},
		{name: "encrypted without key", params: "socket_id=1234.1234&channel_name=private-encrypted-foo", noKey: true, err: pusher.ErrEncryption},
		{name: "bad socket", params: "socket_id=abc&channel_name=private-foobar", err: pusher.ErrInvalidSocketID},
		{name: "no channel", params: "socket_id=1.1", err: pusher.ErrInvalidChannel},
		{name: "bad form", params: "socket_id=%zz", err: pusher.ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := pusher.Options{AppID: testAppID, Key: testKey, Secret: testSecret}
			if !tc.noKey {
				opts.EncryptionMasterKey = testMasterKey
			}
			c, err := pusher.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.AuthorizeChannel([]byte(tc.params), tc.member)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AuthorizeChannel: %v", err)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Fatalf("answer:\n got %s\nwant %s", got, tc.want)
			}
			// Whatever the answer, the server side must accept it.
			var res struct {
				Auth        string `json:"auth"`
				ChannelData string `json:"channel_data"`
			}
			if err := json.Unmarshal(got, &res); err != nil {
				t.Fatalf("answer is not JSON: %s", got)
			}
			form := mustForm(t, tc.params)
			if err := signature.VerifyChannelAuth(testKey, testSecret, res.Auth, form.Get("socket_id"), form.Get("channel_name"), res.ChannelData); err != nil {
				t.Fatalf("server rejects the auth: %v", err)
			}
			if tc.member != nil && strings.HasPrefix(form.Get("channel_name"), "presence-") {
				var cd struct {
					UserID   string            `json:"user_id"`
					UserInfo map[string]string `json:"user_info"`
				}
				if err := json.Unmarshal([]byte(res.ChannelData), &cd); err != nil || cd.UserID != tc.member.UserID {
					t.Fatalf("channel_data = %q (%v)", res.ChannelData, err)
				}
			}
		})
	}
}

func TestAuthenticateUser(t *testing.T) {
	t.Parallel()
	c, err := pusher.New(pusher.Options{AppID: testAppID, Key: testKey, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AuthenticateUser([]byte("socket_id=1234.1234"), map[string]any{"id": "12345"})
	if err != nil {
		t.Fatalf("AuthenticateUser: %v", err)
	}
	const want = `{"auth":"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba","user_data":"{\"id\":\"12345\"}"}`
	if string(got) != want {
		t.Fatalf("answer:\n got %s\nwant %s", got, want)
	}

	tests := []struct {
		name   string
		params string
		data   map[string]any
		want   error
	}{
		{"no id", "socket_id=1.1", map[string]any{"name": "x"}, pusher.ErrInvalidParams},
		{"numeric id", "socket_id=1.1", map[string]any{"id": 5}, pusher.ErrInvalidParams},
		{"empty id", "socket_id=1.1", map[string]any{"id": ""}, pusher.ErrInvalidParams},
		{"nil data", "socket_id=1.1", nil, pusher.ErrInvalidParams},
		{"bad socket", "socket_id=1", map[string]any{"id": "1"}, pusher.ErrInvalidSocketID},
		{"unencodable", "socket_id=1.1", map[string]any{"id": "1", "f": func() {}}, pusher.ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := c.AuthenticateUser([]byte(tc.params), tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}
