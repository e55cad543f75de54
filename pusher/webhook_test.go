package pusher_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/pixiu-io/pixiu/internal/signature"
	"github.com/pixiu-io/pixiu/pusher"
)

func webhookHeader(key, sig string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Pusher-Key", key)
	h.Set("X-Pusher-Signature", sig)
	return h
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	c, err := pusher.New(pusher.Options{AppID: testAppID, Key: testKey, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	vector := []byte(`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`)
	const vectorSig = "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
	all := []byte(`{"time_ms":1,"events":[` +
		`{"name":"member_added","channel":"presence-c","user_id":"u1"},` +
		`{"name":"client_event","channel":"private-c","event":"client-x","data":"{\"x\":1}","socket_id":"123.456","user_id":"u1"},` +
		`{"name":"subscription_count","channel":"c","subscription_count":5},` +
		`{"name":"subscription_count","channel":"c","subscription_count":"7"}]}`)

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   *pusher.Webhook
		err    error
	}{
		{name: "vector", header: webhookHeader(testKey, vectorSig), body: vector,
			want: &pusher.Webhook{TimeMs: 1327078148132, Events: []pusher.WebhookEvent{{Name: "channel_occupied", Channel: "test_channel"}}}},
		{name: "every field", header: webhookHeader(testKey, signature.Webhook(testSecret, all)), body: all,
			want: &pusher.Webhook{TimeMs: 1, Events: []pusher.WebhookEvent{
				{Name: "member_added", Channel: "presence-c", UserID: "u1"},
				{Name: "client_event", Channel: "private-c", Event: "client-x", Data: `{"x":1}`, SocketID: "123.456", UserID: "u1"},
				{Name: "subscription_count", Channel: "c", SubscriptionCount: 5},
				{Name: "subscription_count", Channel: "c", SubscriptionCount: 7},
			}}},
		{name: "wrong key", header: webhookHeader("other", vectorSig), body: vector, err: pusher.ErrInvalidWebhook},
		{name: "wrong signature", header: webhookHeader(testKey, signature.Webhook("other", vector)), body: vector, err: pusher.ErrInvalidWebhook},
		{name: "no signature", header: webhookHeader(testKey, ""), body: vector, err: pusher.ErrInvalidWebhook},
		{name: "tampered body", header: webhookHeader(testKey, vectorSig), body: append([]byte(" "), vector...), err: pusher.ErrInvalidWebhook},
		{name: "not json", header: webhookHeader(testKey, signature.Webhook(testSecret, []byte("x"))), body: []byte("x"), err: pusher.ErrInvalidWebhook},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Webhook(tc.header, tc.body)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Webhook: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Webhook = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// sealForTest encrypts like a client of an encrypted channel would.
func sealForTest(t *testing.T, channel, plain string) string {
	t.Helper()
	key := testSharedSecret(t, channel)
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"nonce":      base64.StdEncoding.EncodeToString(nonce[:]),
		"ciphertext": base64.StdEncoding.EncodeToString(secretbox.Seal(nil, []byte(plain), &nonce, &key)),
	})
	return string(b)
}

// testSharedSecret is SHA256(channel || masterKey), computed independently of
// the package.
func testSharedSecret(t *testing.T, channel string) [32]byte {
	t.Helper()
	mk, err := base64.StdEncoding.DecodeString(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(append([]byte(channel), mk...))
}

func TestWebhookDecryptsEncryptedChannels(t *testing.T) {
	t.Parallel()
	c, err := pusher.New(pusher.Options{AppID: testAppID, Key: testKey, Secret: testSecret, EncryptionMasterKey: testMasterKey})
	if err != nil {
		t.Fatal(err)
	}
	const ch = "private-encrypted-room"
	body, _ := json.Marshal(map[string]any{"time_ms": 1, "events": []map[string]string{
		{"name": "client_event", "channel": ch, "event": "client-msg", "data": sealForTest(t, ch, `{"hi":1}`)},
		{"name": "channel_occupied", "channel": ch}, // no data: left alone
	}})
	w, err := c.Webhook(webhookHeader(testKey, signature.Webhook(testSecret, body)), body)
	if err != nil {
		t.Fatalf("Webhook: %v", err)
	}
	if w.Events[0].Data != `{"hi":1}` || w.Events[1].Data != "" {
		t.Fatalf("events = %+v", w.Events)
	}

	bad, _ := json.Marshal(map[string]any{"time_ms": 1, "events": []map[string]string{
		{"name": "client_event", "channel": ch, "data": sealForTest(t, "private-encrypted-other", "x")},
	}})
	if _, err := c.Webhook(webhookHeader(testKey, signature.Webhook(testSecret, bad)), bad); !errors.Is(err, pusher.ErrEncryption) {
		t.Fatalf("wrong-key ciphertext: %v, want ErrEncryption", err)
	}
}
