package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
)

// csrfCookie holds the trade form's token (double-submit: the form carries
// the same value in its csrf field). Another site can neither read the
// cookie nor make the browser send it (SameSite=Strict), so it cannot
// produce a matching pair.
const (
	csrfCookie = "pixiu_demo_csrf"
	csrfField  = "csrf"
	csrfLen    = 32 // hex characters
)

// csrfToken returns the request's token when it carries a well-formed one,
// else a new one set as the cookie on w.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	b := make([]byte, csrfLen/2)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/demo/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

// csrfOK reports whether the posted form's token matches the cookie's.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validToken(c.Value) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get(csrfField))) == 1
}

func validToken(s string) bool {
	if len(s) != csrfLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
