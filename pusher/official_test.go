package pusher_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/pusher"
)

// This file uses the package exactly as the official pusher-http-go v5
// README does (only the import path differs) against a real Pixiu server on
// loopback, with WebSocket subscribers receiving what was triggered.

// officialServer starts Pixiu with the development app ("app-id", a
// non-numeric id) posting webhooks to a receiver.
func officialServer(t *testing.T) (*pixiutest.Server, *pixiutest.Receiver) {
	t.Helper()
	rcv := pixiutest.NewReceiver(t)
	srv := pixiutest.Start(t, func(c *config.Config) {
		a := config.DefaultApp()
		a.Webhooks = []apps.Webhook{{URL: rcv.URL}}
		c.Apps = []apps.App{a}
	})
	return srv, rcv
}

// subscribeWith sends pusher:subscribe with the JSON an auth endpoint
// answered and waits for subscription_succeeded.
func subscribeWith(t *testing.T, c *pixiutest.Client, channel string, authResponse []byte) {
	t.Helper()
	d := map[string]any{"channel": channel}
	if authResponse != nil {
		var r map[string]any
		if err := json.Unmarshal(authResponse, &r); err != nil {
			t.Fatalf("auth response %s: %v", authResponse, err)
		}
		for k, v := range r {
			if k != "shared_secret" {
				d[k] = v
			}
		}
	}
	c.Send("pusher:subscribe", "", d)
	for {
		e := c.Next()
		if e.Event == "pusher_internal:subscription_succeeded" && e.Channel == channel {
			return
		}
		if e.Event == "pusher:error" || e.Event == "pusher:subscription_error" {
			t.Fatalf("subscribe %s: %s %s", channel, e.Event, e.Data)
		}
	}
}

func authParams(socketID, channel string) []byte {
	return []byte(url.Values{"socket_id": {socketID}, "channel_name": {channel}}.Encode())
}

func TestOfficialAPITriggerAndQueries(t *testing.T) {
	srv, _ := officialServer(t)
	app := srv.App

	pusherClient := pusher.Client{
		AppID:  app.ID,
		Key:    app.Key,
		Secret: app.Secret,
		Host:   srv.Addr,
	}

	sub := pixiutest.Dial(t, srv.Addr, app.Key)
	other := pixiutest.Dial(t, srv.Addr, app.Key)
	subscribeWith(t, sub, "my-channel", nil)
	subscribeWith(t, other, "my-channel", nil)
	subscribeWith(t, sub, "other-channel", nil)

	// Trigger
	data := map[string]string{"message": "hello world"}
	if err := pusherClient.Trigger("my-channel", "my-event", data); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	if e := sub.Expect("my-event"); e.DataString() != `{"message":"hello world"}` {
		t.Fatalf("my-event data = %s", e.DataString())
	}
	other.Expect("my-event")

	// TriggerMulti
	if err := pusherClient.TriggerMulti([]string{"my-channel", "other-channel"}, "multi", data); err != nil {
		t.Fatalf("TriggerMulti: %v", err)
	}
	got := map[string]bool{}
	for range 2 {
		got[sub.Expect("multi").Channel] = true
	}
	if !got["my-channel"] || !got["other-channel"] {
		t.Fatalf("multi reached %v", got)
	}
	other.Expect("multi")

	// TriggerWithParams: exclude other's socket, ask for subscription_count.
	socketID := other.SocketID
	attributes := "subscription_count"
	params := pusher.TriggerParams{SocketID: &socketID, Info: &attributes}
	channels, err := pusherClient.TriggerWithParams("my-channel", "excluded", data, params)
	if err != nil {
		t.Fatalf("TriggerWithParams: %v", err)
	}
	if n := channels.Channels["my-channel"].SubscriptionCount; n == nil || *n != 2 {
		t.Fatalf("TriggerWithParams channels = %+v", channels)
	}
	sub.Expect("excluded")
	// other was excluded: the next event it sees is the one after.
	if _, err := pusherClient.TriggerMultiWithParams([]string{"my-channel"}, "after", data, pusher.TriggerParams{}); err != nil {
		t.Fatalf("TriggerMultiWithParams: %v", err)
	}
	for e := other.Next(); e.Event != "after"; e = other.Next() {
		if e.Event == "excluded" {
			t.Fatal("excluded socket received the event")
		}
	}

	// TriggerBatch
	info := "subscription_count"
	batch, err := pusherClient.TriggerBatch([]pusher.Event{
		{Channel: "my-channel", Name: "ev1", Data: "d1", SocketID: &socketID, Info: &info},
		{Channel: "other-channel", Name: "ev2", Data: "d2"},
	})
	if err != nil {
		t.Fatalf("TriggerBatch: %v", err)
	}
	if len(batch.Batch) != 2 || batch.Batch[0].SubscriptionCount == nil || *batch.Batch[0].SubscriptionCount != 2 {
		t.Fatalf("TriggerBatch = %+v", batch)
	}
	if e := sub.Expect("ev1"); e.DataString() != "d1" {
		t.Fatalf("ev1 = %+v", e)
	}
	if e := sub.Expect("ev2"); e.DataString() != "d2" || e.Channel != "other-channel" {
		t.Fatalf("ev2 = %+v", e)
	}

	// A presence channel authorized by the SDK, then the queries.
	member := pusher.MemberData{UserID: "1", UserInfo: map[string]string{"twitter": "jamiepatel"}}
	resp, err := pusherClient.AuthorizePresenceChannel(authParams(sub.SocketID, "presence-room"), member)
	if err != nil {
		t.Fatalf("AuthorizePresenceChannel: %v", err)
	}
	subscribeWith(t, sub, "presence-room", resp)

	prefixFilter := "presence-"
	userCount := "user_count"
	list, err := pusherClient.Channels(pusher.ChannelsParams{FilterByPrefix: &prefixFilter, Info: &userCount})
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	if len(list.Channels) != 1 || list.Channels["presence-room"].UserCount != 1 {
		t.Fatalf("Channels = %+v", list)
	}
	all, err := pusherClient.Channels(pusher.ChannelsParams{})
	if err != nil || len(all.Channels) != 3 {
		t.Fatalf("Channels() = %+v, %v", all, err)
	}
	ch, err := pusherClient.Channel("presence-room", pusher.ChannelParams{Info: &userCount})
	if err != nil || ch.Name != "presence-room" || !ch.Occupied || ch.UserCount != 1 {
		t.Fatalf("Channel = %+v, %v", ch, err)
	}
	ch, err = pusherClient.Channel("my-channel", pusher.ChannelParams{Info: &attributes})
	if err != nil || !ch.Occupied || ch.SubscriptionCount != 2 {
		t.Fatalf("Channel(my-channel) = %+v, %v", ch, err)
	}
	users, err := pusherClient.GetChannelUsers("presence-room")
	if err != nil || len(users.List) != 1 || users.List[0].ID != "1" {
		t.Fatalf("GetChannelUsers = %+v, %v", users, err)
	}

	// Private channel authorization.
	resp, err = pusherClient.AuthorizePrivateChannel(authParams(other.SocketID, "private-chat"))
	if err != nil {
		t.Fatalf("AuthorizePrivateChannel: %v", err)
	}
	subscribeWith(t, other, "private-chat", resp)
	if err := pusherClient.Trigger("private-chat", "private-event", "p"); err != nil {
		t.Fatalf("Trigger private: %v", err)
	}
	other.Expect("private-event")
}

func TestOfficialAPIEncryptedChannel(t *testing.T) {
	srv, _ := officialServer(t)
	pusherClient := pusher.Client{
		AppID: srv.App.ID, Key: srv.App.Key, Secret: srv.App.Secret, Host: srv.Addr,
		EncryptionMasterKeyBase64: testMasterKey,
	}
	sub := pixiutest.Dial(t, srv.Addr, srv.App.Key)
	const channel = "private-encrypted-secret"
	resp, err := pusherClient.AuthorizePrivateChannel(authParams(sub.SocketID, channel))
	if err != nil {
		t.Fatalf("AuthorizePrivateChannel(encrypted): %v", err)
	}
	var auth struct {
		SharedSecret string `json:"shared_secret"`
	}
	if err := json.Unmarshal(resp, &auth); err != nil {
		t.Fatal(err)
	}
	mk, _ := base64.StdEncoding.DecodeString(testMasterKey)
	if want := sha256.Sum256(append([]byte(channel), mk...)); auth.SharedSecret != base64.StdEncoding.EncodeToString(want[:]) {
		t.Fatalf("shared_secret = %q", auth.SharedSecret)
	}
	subscribeWith(t, sub, channel, resp)
	if err := pusherClient.Trigger(channel, "secret-event", map[string]string{"msg": "hi"}); err != nil {
		t.Fatalf("Trigger encrypted: %v", err)
	}
	e := sub.Expect("secret-event")
	var box struct{ Nonce, Ciphertext string }
	if err := json.Unmarshal([]byte(e.DataString()), &box); err != nil {
		t.Fatalf("encrypted data %s: %v", e.DataString(), err)
	}
	key, _ := base64.StdEncoding.DecodeString(auth.SharedSecret)
	nonce, _ := base64.StdEncoding.DecodeString(box.Nonce)
	ct, _ := base64.StdEncoding.DecodeString(box.Ciphertext)
	if len(nonce) != 24 || len(key) != 32 {
		t.Fatalf("nonce %d bytes, key %d bytes", len(nonce), len(key))
	}
	plain, ok := secretbox.Open(nil, ct, (*[24]byte)(nonce), (*[32]byte)(key))
	if !ok || string(plain) != `{"msg":"hi"}` {
		t.Fatalf("decrypted %q, ok %v", plain, ok)
	}

	// Without a master key, encrypted channels are refused before any I/O.
	noKey := pusher.Client{AppID: srv.App.ID, Key: srv.App.Key, Secret: srv.App.Secret, Host: srv.Addr}
	if err := noKey.Trigger(channel, "e", "d"); err == nil {
		t.Fatal("Trigger on an encrypted channel without a master key succeeded")
	}
}

func TestOfficialAPIUsersAndWebhooks(t *testing.T) {
	srv, rcv := officialServer(t)
	app := srv.App
	pusherURL := "http://" + app.Key + ":" + app.Secret + "@" + srv.Addr + "/apps/" + app.ID
	t.Setenv("PUSHER_URL", pusherURL)
	pusherClient, err := pusher.ClientFromEnv("PUSHER_URL")
	if err != nil {
		t.Fatalf("ClientFromEnv: %v", err)
	}
	fromURL, err := pusher.ClientFromURL(pusherURL)
	if err != nil || fromURL.AppID != "app-id" || fromURL.Key != app.Key || fromURL.Secret != app.Secret || fromURL.Host != srv.Addr || fromURL.Secure {
		t.Fatalf("ClientFromURL = %+v, %v", fromURL, err)
	}

	// User authentication (sign-in), then SendToUser and terminate.
	sub := pixiutest.Dial(t, srv.Addr, app.Key)
	userData := map[string]interface{}{"id": "user-1", "twitter": "jamiepatel"}
	resp, err := pusherClient.AuthenticateUser([]byte("socket_id="+sub.SocketID), userData)
	if err != nil {
		t.Fatalf("AuthenticateUser: %v", err)
	}
	var signin map[string]string
	if err := json.Unmarshal(resp, &signin); err != nil {
		t.Fatal(err)
	}
	sub.Send("pusher:signin", "", signin)
	sub.Expect("pusher:signin_success")
	// pusher-js subscribes to the user's channel after signing in.
	subscribeWith(t, sub, "#server-to-user-user-1", nil)
	if err := pusherClient.SendToUser("user-1", "say_hello", map[string]string{"hello": "world"}); err != nil {
		t.Fatalf("SendToUser: %v", err)
	}
	if e := sub.Expect("say_hello"); e.DataString() != `{"hello":"world"}` {
		t.Fatalf("say_hello = %+v", e)
	}
	if err := pusherClient.TerminateUserConnections("user-1"); err != nil {
		t.Fatalf("TerminateUserConnections: %v", err)
	}
	sub.WaitClosed()

	// Webhooks: the server's own deliveries verify and parse.
	sub2 := pixiutest.Dial(t, srv.Addr, app.Key)
	subscribeWith(t, sub2, "hooked", nil)
	var hook pixiutest.Webhook
	pixiutest.WaitFor(t, 10*time.Second, func() error {
		for _, w := range rcv.Delivered() {
			for _, e := range w.Events {
				if e.Name == "channel_occupied" && e.Channel == "hooked" {
					hook = w
					return nil
				}
			}
		}
		return errors.New("no channel_occupied webhook for hooked yet")
	})
	webhook, err := pusherClient.Webhook(hook.Header, hook.Body)
	if err != nil {
		t.Fatalf("Webhook: %v", err)
	}
	if webhook.TimeMs == 0 || len(webhook.Events) == 0 {
		t.Fatalf("Webhook = %+v", webhook)
	}
	tampered := append([]byte(nil), hook.Body...)
	tampered[len(tampered)-2] ^= 1
	if _, err := pusherClient.Webhook(hook.Header, tampered); err == nil {
		t.Fatal("Webhook accepted a tampered body")
	}
	if _, err := pusherClient.Webhook(http.Header{"X-Pusher-Key": {app.Key}}, hook.Body); err == nil {
		t.Fatal("Webhook accepted a request without a signature")
	}
}

func TestClientFromURL(t *testing.T) {
	t.Parallel()
	c, err := pusher.ClientFromURL("https://key:secret@api-eu.pusher.com/apps/123")
	if err != nil || c.AppID != "123" || c.Key != "key" || c.Secret != "secret" || c.Host != "api-eu.pusher.com" || !c.Secure {
		t.Fatalf("ClientFromURL = %+v, %v", c, err)
	}
	for _, bad := range []string{
		"http://key:secret@host/apps/",        // no app id
		"http://key:secret@host/other/1",      // not /apps/
		"http://host/apps/1",                  // no credentials
		"http://key@host/apps/1",              // no secret
		"ftp://key:secret@host/apps/1",        // scheme
		"http://key:secret@/apps/1",           // no host
		"http://key:secret@host/apps/1/extra", // trailing path
		"%zz",                                 // not a URL
	} {
		if _, err := pusher.ClientFromURL(bad); err == nil {
			t.Errorf("ClientFromURL(%q) succeeded", bad)
		}
	}
	if _, err := pusher.ClientFromEnv("PIXIU_TEST_UNSET_PUSHER_URL"); err == nil {
		t.Error("ClientFromEnv of an unset variable succeeded")
	}
}

// officialAPI is the method set of pusher-http-go v5's Client, signature for
// signature: the package must keep satisfying it.
type officialAPI interface {
	Trigger(channel string, eventName string, data interface{}) error
	TriggerMulti(channels []string, eventName string, data interface{}) error
	TriggerWithParams(channel string, eventName string, data interface{}, params pusher.TriggerParams) (*pusher.TriggerChannelsList, error)
	TriggerMultiWithParams(channels []string, eventName string, data interface{}, params pusher.TriggerParams) (*pusher.TriggerChannelsList, error)
	TriggerExclusive(channel string, eventName string, data interface{}, socketID string) error
	TriggerMultiExclusive(channels []string, eventName string, data interface{}, socketID string) error
	TriggerBatch(batch []pusher.Event) (*pusher.TriggerBatchChannelsList, error)
	SendToUser(userId string, eventName string, data interface{}) error
	Channels(params pusher.ChannelsParams) (*pusher.ChannelsList, error)
	Channel(name string, params pusher.ChannelParams) (*pusher.Channel, error)
	GetChannelUsers(name string) (*pusher.Users, error)
	AuthenticateUser(params []byte, userData map[string]interface{}) (response []byte, err error)
	AuthorizePrivateChannel(params []byte) (response []byte, err error)
	AuthenticatePrivateChannel(params []byte) (response []byte, err error)
	AuthorizePresenceChannel(params []byte, member pusher.MemberData) (response []byte, err error)
	AuthenticatePresenceChannel(params []byte, member pusher.MemberData) (response []byte, err error)
	Webhook(header http.Header, body []byte) (*pusher.Webhook, error)
}

var (
	_ officialAPI                          = (*pusher.Client)(nil)
	_ func(string) (*pusher.Client, error) = pusher.ClientFromURL
	_ func(string) (*pusher.Client, error) = pusher.ClientFromEnv
	_ func(pusher.Client) pusher.Client    = func(c pusher.Client) pusher.Client { return c } // a value type, as in pusher-http-go
)

// TestOfficialFieldsLimitsAndKeys: OverrideMaxMessagePayloadKB raises the
// data limit; the deprecated raw EncryptionMasterKey works and conflicts
// with EncryptionMasterKeyBase64, as in pusher-http-go.
func TestOfficialFieldsLimitsAndKeys(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	host := strings.TrimPrefix(f.srv.URL, "http://")
	big := strings.Repeat("x", 15*1024)
	c := pusher.Client{AppID: testAppID, Key: testKey, Secret: testSecret, Host: host}
	if err := c.Trigger("a", "e", big); !errors.Is(err, pusher.ErrDataTooLarge) {
		t.Fatalf("15 KB with the default limit: %v", err)
	}
	c.OverrideMaxMessagePayloadKB = 20
	if err := c.Trigger("a", "e", big); err != nil {
		t.Fatalf("15 KB with a 20 KB limit: %v", err)
	}

	raw := pusher.Client{AppID: testAppID, Key: testKey, Secret: testSecret, Host: host,
		EncryptionMasterKey: "0123456789abcdef0123456789abcdef"}
	if err := raw.Trigger("private-encrypted-a", "e", "d"); err != nil {
		t.Fatalf("raw master key: %v", err)
	}
	both := raw
	both.EncryptionMasterKeyBase64 = testMasterKey
	if err := both.Trigger("private-encrypted-a", "e", "d"); !errors.Is(err, pusher.ErrEncryption) {
		t.Fatalf("both master keys: %v", err)
	}
	short := pusher.Client{AppID: testAppID, Key: testKey, Secret: testSecret, Host: host, EncryptionMasterKey: "short"}
	if _, err := short.AuthorizePrivateChannel(authParams("1.2", "private-encrypted-a")); !errors.Is(err, pusher.ErrEncryption) {
		t.Fatalf("short raw master key: %v", err)
	}
	if n := len(f.received()); n != 2 {
		t.Fatalf("server received %d requests, want 2", n)
	}
}

// TriggerExclusive, TriggerMultiExclusive and the deprecated Authenticate*
// aliases, still present in pusher-http-go v5 and used by older code.
func TestOfficialAPIDeprecatedCalls(t *testing.T) {
	srv, _ := officialServer(t)
	pusherClient := pusher.Client{AppID: srv.App.ID, Key: srv.App.Key, Secret: srv.App.Secret, Host: srv.Addr}
	a := pixiutest.Dial(t, srv.Addr, srv.App.Key)
	b := pixiutest.Dial(t, srv.Addr, srv.App.Key)

	resp, err := pusherClient.AuthenticatePrivateChannel(authParams(a.SocketID, "private-old"))
	if err != nil {
		t.Fatalf("AuthenticatePrivateChannel: %v", err)
	}
	subscribeWith(t, a, "private-old", resp)
	resp, err = pusherClient.AuthenticatePresenceChannel(authParams(b.SocketID, "presence-old"), pusher.MemberData{UserID: "7"})
	if err != nil {
		t.Fatalf("AuthenticatePresenceChannel: %v", err)
	}
	subscribeWith(t, b, "presence-old", resp)
	for _, c := range []*pixiutest.Client{a, b} {
		subscribeWith(t, c, "both", nil)
	}

	if err := pusherClient.TriggerExclusive("both", "not-for-a", "x", a.SocketID); err != nil {
		t.Fatalf("TriggerExclusive: %v", err)
	}
	if err := pusherClient.TriggerMultiExclusive([]string{"both", "presence-old"}, "not-for-b", "y", b.SocketID); err != nil {
		t.Fatalf("TriggerMultiExclusive: %v", err)
	}
	if err := pusherClient.TriggerMulti([]string{"both", "private-old", "presence-old"}, "for-all", "z"); err != nil {
		t.Fatalf("TriggerMulti: %v", err)
	}
	seen := func(c *pixiutest.Client, want int) map[string]int {
		got := map[string]int{}
		for n := 0; n < want; {
			e := c.Next()
			if strings.HasPrefix(e.Event, "pusher") {
				continue
			}
			got[e.Event+"@"+e.Channel]++
			n++
		}
		return got
	}
	if got := seen(a, 3); got["not-for-b@both"] != 1 || got["for-all@both"] != 1 || got["for-all@private-old"] != 1 {
		t.Fatalf("a received %v", got)
	}
	if got := seen(b, 3); got["not-for-a@both"] != 1 || got["for-all@both"] != 1 || got["for-all@presence-old"] != 1 {
		t.Fatalf("b received %v", got)
	}
}
