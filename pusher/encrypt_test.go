package pusher_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

// TestTriggerEncrypted triggers on an encrypted channel and decrypts what the
// server received with secretbox and an independently derived key.
func TestTriggerEncrypted(t *testing.T) {
	t.Parallel()
	const ch = "private-encrypted-foo"
	f := newFakeServer(t)
	if _, err := f.client(nil).TriggerContext(context.Background(), []string{ch}, "secret-event", map[string]string{"msg": "hi"}, nil); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	var sent struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal([]byte(f.received()[0].Body), &sent); err != nil {
		t.Fatal(err)
	}
	var box struct{ Nonce, Ciphertext string }
	if err := json.Unmarshal([]byte(sent.Data), &box); err != nil {
		t.Fatalf("data %q is not {nonce, ciphertext}: %v", sent.Data, err)
	}
	nonce, err1 := base64.StdEncoding.DecodeString(box.Nonce)
	ct, err2 := base64.StdEncoding.DecodeString(box.Ciphertext)
	if err1 != nil || err2 != nil || len(nonce) != 24 {
		t.Fatalf("bad encoding: %q", sent.Data)
	}
	key := testSharedSecret(t, ch)
	plain, ok := secretbox.Open(nil, ct, (*[24]byte)(nonce), &key)
	if !ok {
		t.Fatal("secretbox.Open failed")
	}
	if string(plain) != `{"msg":"hi"}` {
		t.Fatalf("plaintext = %s", plain)
	}

	// The same key is what AuthorizeChannel hands the client.
	auth, err := f.client(nil).AuthorizeChannel([]byte("socket_id=1.2&channel_name="+ch), nil)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		SharedSecret string `json:"shared_secret"`
	}
	if err := json.Unmarshal(auth, &res); err != nil || res.SharedSecret != base64.StdEncoding.EncodeToString(key[:]) {
		t.Fatalf("shared_secret = %q (%v)", res.SharedSecret, err)
	}
}
