package signature

import (
	"net/url"
	"testing"
)

func BenchmarkVerifyRequest(b *testing.B) {
	b.ReportAllocs()
	q, err := url.ParseQuery(vecAuth + "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=" + vecPostSig)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(vecPostBody)
	for b.Loop() {
		if err := VerifyRequest(vecKey, vecSecret, "POST", "/apps/3/events", q, body, vecNow, maxSkew); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyChannelAuth(b *testing.B) {
	b.ReportAllocs()
	auth := ChannelAuth(vecKey, vecSecret, vecSocket, "private-foobar", "")
	for b.Loop() {
		if err := VerifyChannelAuth(vecKey, vecSecret, auth, vecSocket, "private-foobar", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRequest(b *testing.B) {
	b.ReportAllocs()
	body := []byte(vecPostBody)
	for b.Loop() {
		_ = SignRequest(vecKey, vecSecret, "POST", "/apps/3/events", nil, body, vecNow)
	}
}
