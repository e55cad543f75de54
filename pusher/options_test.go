package pusher

import "testing"

func TestNewBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		want    string
		wantErr bool
	}{
		{name: "pusher default", want: "https://api.pusherapp.com"},
		{name: "cluster", opts: Options{Cluster: "eu"}, want: "https://api-eu.pusher.com"},
		{name: "pixiu host and port", opts: Options{Host: "127.0.0.1:6001"}, want: "http://127.0.0.1:6001"},
		{name: "host plus port", opts: Options{Host: "127.0.0.1", Port: 6001}, want: "http://127.0.0.1:6001"},
		{name: "port overrides host port", opts: Options{Host: "localhost:1", Port: 2}, want: "http://localhost:2"},
		{name: "ipv6", opts: Options{Host: "::1", Port: 6001}, want: "http://[::1]:6001"},
		{name: "secure", opts: Options{Host: "pixiu.example.org", Secure: true}, want: "https://pixiu.example.org"},
		{name: "scheme in host", opts: Options{Host: "https://pixiu.example.org:8443/"}, want: "https://pixiu.example.org:8443"},
		{name: "explicit http to pusher", opts: Options{Cluster: "mt1", Scheme: "http"}, want: "http://api-mt1.pusher.com"},
		{name: "bad scheme", opts: Options{Scheme: "ftp"}, wantErr: true},
		{name: "secure with http", opts: Options{Scheme: "http", Secure: true}, wantErr: true},
		{name: "path in host", opts: Options{Host: "example.org/x"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.AppID, tc.opts.Key, tc.opts.Secret = "1", "k", "s"
			c, err := New(tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded with %+v, want an error", tc.opts, c)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got, _ := c.baseURL(); got != tc.want {
				t.Fatalf("base URL = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"no credentials", Options{}},
		{"no secret", Options{AppID: "1", Key: "k"}},
		{"master key not base64", Options{AppID: "1", Key: "k", Secret: "s", EncryptionMasterKey: "!!"}},
		{"master key too short", Options{AppID: "1", Key: "k", Secret: "s", EncryptionMasterKey: "AAEC"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.opts); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		channel bool
		socket  bool
	}{
		{"my-channel", true, false},
		{"private-encrypted-a_b=c@d,e.f;g", true, false},
		{"#server-to-user-42", true, false},
		{"#server-to-user-", false, false},
		{"#other", false, false},
		{"", false, false},
		{"with space", false, false},
		{"é", false, false},
		{string(make([]byte, 201)), false, false},
		{"1234.5678", true, true},
		{"1234", true, false},
		{"1.2.3", true, false},
		{".1", true, false},
		{"a.1", true, false},
	}
	for _, tc := range tests {
		if got := validChannelName(tc.name); got != tc.channel {
			t.Errorf("validChannelName(%q) = %v, want %v", tc.name, got, tc.channel)
		}
		if got := validSocketID(tc.name); got != tc.socket {
			t.Errorf("validSocketID(%q) = %v, want %v", tc.name, got, tc.socket)
		}
	}
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	if !validChannelName(string(long)) || validChannelName(string(long)+"a") {
		t.Error("channel name length limit is not 200")
	}
}
