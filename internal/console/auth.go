package console

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Store settings (meta names) the console keeps.
const (
	metaPasswordHash = "console_password_hash"
	metaSessionKey   = "console_session_key"
)

const (
	cookieName     = "pixiu_console"
	csrfHeader     = "X-CSRF-Token"
	pbkdf2Iter     = 100_000
	maxFailures    = 10 // failed sign-ins per client address per failureWindow
	failureWindow  = time.Minute
	maxFailureKeys = 10_000
)

// authenticator checks the admin password and issues and verifies session
// cookies and CSRF tokens. Sessions are stateless signed tokens, so every
// node sharing the store accepts them and they survive restarts; sign-out
// revokes a session on the node that served it.
type authenticator struct {
	now   func() time.Time
	ttl   time.Duration
	check func(password string) bool // constant-time
	key   []byte                     // HMAC key of tokens; changes with the password

	mu       sync.Mutex
	revoked  map[string]time.Time   // session id → expiry; guarded by mu
	failures map[string][]time.Time // client address → recent failures; guarded by mu
}

// session is a verified sign-in.
type session struct {
	id      [16]byte
	expires time.Time
}

func newAuthenticator(ctx context.Context, opts Options, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{now: opts.Now, ttl: opts.SessionTTL,
		revoked: map[string]time.Time{}, failures: map[string][]time.Time{}}
	var fingerprint string
	if opts.Password != "" {
		want := sha256.Sum256([]byte(opts.Password))
		a.check = func(p string) bool {
			got := sha256.Sum256([]byte(p))
			return subtle.ConstantTimeCompare(got[:], want[:]) == 1
		}
		fp := sha256.Sum256(want[:])
		fingerprint = "config:" + hex.EncodeToString(fp[:])
	} else {
		hash, err := storedPasswordHash(ctx, opts, log)
		if err != nil {
			return nil, err
		}
		ph, err := parsePasswordHash(hash)
		if err != nil {
			return nil, err
		}
		a.check = ph.verify
		fingerprint = hash
	}
	skey, _, err := opts.Store.PutMetaIfAbsent(ctx, metaSessionKey, randomHex(32))
	if err != nil {
		return nil, fmt.Errorf("console: session key: %w", err)
	}
	m := hmac.New(sha256.New, []byte(skey))
	m.Write([]byte(fingerprint))
	a.key = m.Sum(nil)
	return a, nil
}

// storedPasswordHash returns the stored password hash, generating a password
// on the first start. Of several nodes starting at once, the one whose hash
// is stored logs its password; the others never had a usable one.
func storedPasswordHash(ctx context.Context, opts Options, log *slog.Logger) (string, error) {
	hash, ok, err := opts.Store.Meta(ctx, metaPasswordHash)
	if err != nil {
		return "", fmt.Errorf("console: password: %w", err)
	}
	if ok {
		log.Info("console: sign in with the password generated on the first start, or set PIXIU_CONSOLE_PASSWORD")
		return hash, nil
	}
	password := generatePassword()
	hash, won, err := opts.Store.PutMetaIfAbsent(ctx, metaPasswordHash, hashPassword(password))
	if err != nil {
		return "", fmt.Errorf("console: password: %w", err)
	}
	if won {
		// The one time the password exists outside the operator's hands:
		// it is printed once and only its hash is kept.
		log.Warn("console: generated the admin password; it is shown only this once "+
			"(set PIXIU_CONSOLE_PASSWORD to choose one)", "password", password)
	}
	return hash, nil
}

// generatePassword returns 20 random characters (100 bits) in groups of five.
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // 32 symbols: no l, o, 0, 1
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for i, v := range b {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[v%32])
	}
	return sb.String()
}

type passwordHash struct {
	iter       int
	salt, hash []byte
}

// hashPassword returns "pbkdf2-sha256$ITER$SALT$HASH" (base64 fields).
func hashPassword(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	h, _ := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iter, 32)
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(pbkdf2Iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(h)
}

func parsePasswordHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	bad := errors.New("console: stored password hash is malformed")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return passwordHash{}, bad
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return passwordHash{}, bad
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	hash, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(hash) == 0 {
		return passwordHash{}, bad
	}
	return passwordHash{iter: iter, salt: salt, hash: hash}, nil
}

func (p passwordHash) verify(password string) bool {
	h, err := pbkdf2.Key(sha256.New, password, p.salt, p.iter, len(p.hash))
	return err == nil && subtle.ConstantTimeCompare(h, p.hash) == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *authenticator) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, a.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// newSession returns a new session and its cookie value.
func (a *authenticator) newSession() (*session, string) {
	s := &session{expires: a.now().Add(a.ttl)}
	_, _ = rand.Read(s.id[:])
	payload := make([]byte, 24)
	copy(payload, s.id[:])
	binary.BigEndian.PutUint64(payload[16:], uint64(s.expires.Unix()))
	enc := base64.RawURLEncoding
	return s, enc.EncodeToString(payload) + "." + enc.EncodeToString(a.mac([]byte("session\x00"), payload))
}

var (
	errSignedOut = &Error{Status: http.StatusUnauthorized, Message: "sign in to use the console"}
	errBadToken  = &Error{Status: http.StatusUnauthorized, Message: "invalid session: sign in again"}
	errExpired   = &Error{Status: http.StatusUnauthorized, Message: "session expired: sign in again"}
	errRevoked   = &Error{Status: http.StatusUnauthorized, Message: "signed out: sign in again"}
	errNoCSRF    = &Error{Status: http.StatusForbidden,
		Message: "missing CSRF token: send the page's csrf-token meta tag in the X-CSRF-Token header"}
	errBadCSRF = &Error{Status: http.StatusForbidden, Message: "invalid CSRF token: reload the page"}
)

// session verifies the request's session cookie.
func (a *authenticator) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, errSignedOut
	}
	p64, m64, ok := strings.Cut(ck.Value, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil || len(payload) != 24 ||
		!hmac.Equal(mac, a.mac([]byte("session\x00"), payload)) {
		return nil, errBadToken
	}
	s := &session{expires: time.Unix(int64(binary.BigEndian.Uint64(payload[16:])), 0)}
	copy(s.id[:], payload)
	if !a.now().Before(s.expires) {
		return nil, errExpired
	}
	a.mu.Lock()
	_, revoked := a.revoked[string(s.id[:])]
	a.mu.Unlock()
	if revoked {
		return nil, errRevoked
	}
	return s, nil
}

// csrfToken returns the session's CSRF token.
func (a *authenticator) csrfToken(s *session) string {
	return base64.RawURLEncoding.EncodeToString(a.mac([]byte("csrf\x00"), s.id[:]))
}

func (a *authenticator) checkCSRF(r *http.Request, s *session) error {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		return errNoCSRF
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(a.csrfToken(s))) != 1 {
		return errBadCSRF
	}
	return nil
}

func (a *authenticator) revoke(s *session) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, exp := range a.revoked {
		if !now.Before(exp) {
			delete(a.revoked, id)
		}
	}
	a.revoked[string(s.id[:])] = s.expires
}

// allowAttempt reports whether the client may try a password now.
func (a *authenticator) allowAttempt(client string) bool {
	cutoff := a.now().Add(-failureWindow)
	a.mu.Lock()
	defer a.mu.Unlock()
	recent := a.failures[client]
	for len(recent) > 0 && recent[0].Before(cutoff) {
		recent = recent[1:]
	}
	if len(recent) == 0 {
		delete(a.failures, client)
	} else {
		a.failures[client] = recent
	}
	return len(recent) < maxFailures
}

func (a *authenticator) recordFailure(client string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) >= maxFailureKeys {
		clear(a.failures) // bounded memory beats perfect accounting under a flood
	}
	a.failures[client] = append(a.failures[client], a.now())
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) error {
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which this server never grants: no login CSRF.
	if !isJSON(r.Header.Get("Content-Type")) {
		return errorf(http.StatusUnsupportedMediaType, "send the password as application/json")
	}
	client := clientAddr(r)
	if !c.auth.allowAttempt(client) {
		return errorf(http.StatusTooManyRequests, "too many failed sign-ins: wait a minute and try again")
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Password == "" || !c.auth.check(body.Password) {
		c.auth.recordFailure(client)
		return errorf(http.StatusUnauthorized, "wrong password")
	}
	s, value := c.auth.newSession()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/console", Expires: s.expires, MaxAge: int(c.opts.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r),
	})
	writeJSON(w, http.StatusOK, map[string]any{"csrf_token": c.auth.csrfToken(s), "expires": s.expires.UTC()})
	return nil
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	if s, err := c.auth.session(r); err == nil {
		c.auth.revoke(s)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
