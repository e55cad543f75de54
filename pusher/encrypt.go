package pusher

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

// encryptedData is the data of an event on a private-encrypted channel, as
// pusher-js expects it (protocol.md §3.14).
type encryptedData struct {
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// sharedSecret is the per-channel key: SHA256(channel || masterKey). Its
// base64 form is the shared_secret given to the client on authorization.
func (c *Client) sharedSecret(channel string) ([32]byte, error) {
	mk, err := c.masterKey()
	if err != nil {
		return [32]byte{}, fmt.Errorf("channel %q: %w", channel, err)
	}
	h := sha256.New()
	h.Write([]byte(channel))
	h.Write(mk)
	var k [32]byte
	h.Sum(k[:0])
	return k, nil
}

// encrypt seals data with nacl secretbox under the channel's shared secret
// and a random nonce, and returns {"nonce":..,"ciphertext":..}.
func (c *Client) encrypt(channel, data string) (string, error) {
	key, err := c.sharedSecret(channel)
	if err != nil {
		return "", err
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("%w: nonce: %w", ErrEncryption, err)
	}
	b, err := json.Marshal(encryptedData{
		Nonce:      base64.StdEncoding.EncodeToString(nonce[:]),
		Ciphertext: base64.StdEncoding.EncodeToString(secretbox.Seal(nil, []byte(data), &nonce, &key)),
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrEncryption, err)
	}
	return string(b), nil
}

// decrypt reverses encrypt (used for webhooks of encrypted channels).
func (c *Client) decrypt(channel, data string) (string, error) {
	key, err := c.sharedSecret(channel)
	if err != nil {
		return "", err
	}
	var ed encryptedData
	if err := json.Unmarshal([]byte(data), &ed); err != nil {
		return "", fmt.Errorf("%w: channel %q: data is not {nonce, ciphertext}: %w", ErrEncryption, channel, err)
	}
	nonce, err1 := base64.StdEncoding.DecodeString(ed.Nonce)
	box, err2 := base64.StdEncoding.DecodeString(ed.Ciphertext)
	if err1 != nil || err2 != nil || len(nonce) != 24 {
		return "", fmt.Errorf("%w: channel %q: bad nonce or ciphertext encoding", ErrEncryption, channel)
	}
	plain, ok := secretbox.Open(nil, box, (*[24]byte)(nonce), &key)
	if !ok {
		return "", fmt.Errorf("%w: channel %q: decryption failed", ErrEncryption, channel)
	}
	return string(plain), nil
}
