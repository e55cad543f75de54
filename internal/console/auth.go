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
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-io/pixiu/internal/store"
)

// Store settings (meta names) the console keeps.
const (
	metaPasswordHash = "console_password_hash"
	metaSessionKey   = "console_session_key"
)

const (
	cookieName = "pixiu_console"
	csrfHeader = "X-CSRF-Token"
	pbkdf2Iter = 100_000
)

// sessionCheckTTL is how long a node trusts its last look at a session
// row: a sign-out on another node takes effect there within it.
const sessionCheckTTL = 2 * time.Second

// maxSessionCache bounds the cache of confirmed sessions.
const maxSessionCache = 4096

// authenticator checks the admin password and issues and verifies session
// cookies and CSRF tokens. A session is a signed token (id, expiry) whose id
// is also recorded in the store: signing out deletes the row, so it holds
// across restarts and on every node sharing the store; each request checks
// the row, trusting a confirmation for sessionCheckTTL.
type authenticator struct {
	now   func() time.Time
	ttl   time.Duration
	store *store.Store
	log   *slog.Logger
	// fixed checks the configured password (constant-time); nil when the
	// password is the store's, whose hash is read at each sign-in so that
	// `pixiu console reset-password` applies to running servers.
	fixed func(password string) bool
	key   []byte // HMAC key of tokens; changes with a configured password

	mu       sync.Mutex
	checked  map[[16]byte]time.Time // session id → when the store last confirmed it; guarded by mu
	throttle throttle
}

// session is a verified sign-in.
type session struct {
	id      [16]byte
	expires time.Time
}

func newAuthenticator(ctx context.Context, opts Options, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{now: opts.Now, ttl: opts.SessionTTL, store: opts.Store, log: log,
		checked: map[[16]byte]time.Time{}}
	if err := a.throttle.init(opts); err != nil {
		return nil, err
	}
	fingerprint := "store"
	if opts.Password != "" {
		want := sha256.Sum256([]byte(opts.Password))
		a.fixed = func(p string) bool {
			got := sha256.Sum256([]byte(p))
			return subtle.ConstantTimeCompare(got[:], want[:]) == 1
		}
		fp := sha256.Sum256(want[:])
		fingerprint = "config:" + hex.EncodeToString(fp[:])
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

var errStarting = &Error{Status: http.StatusServiceUnavailable, Message: "the console is starting: try again in a moment"}

// check reports whether password is the admin password.
func (a *authenticator) check(ctx context.Context, password string) (bool, error) {
	if a.fixed != nil {
		return a.fixed(password), nil
	}
	hash, ok, err := a.store.Meta(ctx, metaPasswordHash)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errStarting // Start has not run yet
	}
	ph, err := parsePasswordHash(hash)
	if err != nil {
		return false, err
	}
	return ph.verify(password), nil
}

// start makes sure a password exists: on the first start it generates one,
// stores its hash and logs it once. Of several nodes starting at once, the
// one whose hash is stored logs its password; the others never had a
// usable one.
func (a *authenticator) start(ctx context.Context) error {
	if a.fixed != nil {
		return nil
	}
	_, ok, err := a.store.Meta(ctx, metaPasswordHash)
	if err != nil {
		return fmt.Errorf("console: password: %w", err)
	}
	if ok {
		a.log.Info("console: sign in with the password generated on the first start " +
			"(pixiu console reset-password makes a new one), or set PIXIU_CONSOLE_PASSWORD")
		return nil
	}
	password := generatePassword()
	_, won, err := a.store.PutMetaIfAbsent(ctx, metaPasswordHash, hashPassword(password))
	if err != nil {
		return fmt.Errorf("console: password: %w", err)
	}
	if won {
		// The one time the password exists outside the operator's hands:
		// it is printed once and only its hash is kept.
		a.log.Warn("console: generated the admin password; it is shown only this once "+
			"(set PIXIU_CONSOLE_PASSWORD to choose one, or run pixiu console reset-password)", "password", password)
	}
	return nil
}

// ResetPassword sets the console's stored admin password to password, or to
// a generated one when password is empty, and signs every session out. It
// returns the password set and how many sessions it ended. A running server
// uses the new password at its next sign-in.
func ResetPassword(ctx context.Context, st *store.Store, password string) (string, int, error) {
	if password == "" {
		password = generatePassword()
	} else if err := checkNewPassword(password); err != nil {
		return "", 0, err
	}
	n, err := st.PutMetaEndingSessions(ctx, metaPasswordHash, hashPassword(password))
	if err != nil {
		return "", 0, fmt.Errorf("console: reset password: %w", err)
	}
	return password, n, nil
}

// Password limits for ResetPassword.
const (
	minPasswordLen = 12
	maxPasswordLen = 1024
)

func checkNewPassword(p string) error {
	switch {
	case len(p) < minPasswordLen:
		return fmt.Errorf("console: the password must have at least %d characters", minPasswordLen)
	case len(p) > maxPasswordLen:
		return fmt.Errorf("console: the password must have at most %d bytes", maxPasswordLen)
	}
	return nil
}

// SignOutEverywhere ends every console session; it returns how many were
// valid.
func SignOutEverywhere(ctx context.Context, st *store.Store) (int, error) {
	n, err := st.EndAllSessions(ctx)
	if err != nil {
		return 0, fmt.Errorf("console: sign out everywhere: %w", err)
	}
	return n, nil
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

// newSession records a new session in the store and returns it with its
// cookie value.
func (a *authenticator) newSession(ctx context.Context) (*session, string, error) {
	s := &session{expires: a.now().Add(a.ttl)}
	_, _ = rand.Read(s.id[:])
	if err := a.store.AddSession(ctx, s.id[:], s.expires); err != nil {
		return nil, "", err
	}
	a.confirmed(s.id)
	payload := make([]byte, 24)
	copy(payload, s.id[:])
	binary.BigEndian.PutUint64(payload[16:], uint64(s.expires.Unix()))
	enc := base64.RawURLEncoding
	return s, enc.EncodeToString(payload) + "." + enc.EncodeToString(a.mac([]byte("session\x00"), payload)), nil
}

func (a *authenticator) confirmed(id [16]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.checked) >= maxSessionCache {
		clear(a.checked)
	}
	a.checked[id] = a.now()
}

// active reports whether the store still holds session s, trusting a
// confirmation younger than sessionCheckTTL.
func (a *authenticator) active(ctx context.Context, s *session) (bool, error) {
	a.mu.Lock()
	at, ok := a.checked[s.id]
	a.mu.Unlock()
	if ok && a.now().Sub(at) < sessionCheckTTL {
		return true, nil
	}
	ok, err := a.store.SessionActive(ctx, s.id[:], a.now())
	if err != nil || !ok {
		a.forget(s.id)
		return false, err
	}
	a.confirmed(s.id)
	return true, nil
}

func (a *authenticator) forget(id [16]byte) {
	a.mu.Lock()
	delete(a.checked, id)
	a.mu.Unlock()
}

var (
	errSignedOut = &Error{Status: http.StatusUnauthorized, Message: "sign in to use the console"}
	errBadToken  = &Error{Status: http.StatusUnauthorized, Message: "invalid session: sign in again"}
	errExpired   = &Error{Status: http.StatusUnauthorized, Message: "session expired: sign in again"}
	errRevoked   = &Error{Status: http.StatusUnauthorized, Message: "signed out: sign in again"}
	errNoStore   = &Error{Status: http.StatusServiceUnavailable, Message: "the console's store does not answer: try again"}
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
	ok, err = a.active(r.Context(), s)
	if err != nil {
		a.log.WarnContext(r.Context(), "console: check session", "err", err)
		return nil, errNoStore
	}
	if !ok {
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

// revoke ends session s everywhere.
func (a *authenticator) revoke(ctx context.Context, s *session) error {
	a.forget(s.id)
	return a.store.EndSession(ctx, s.id[:])
}

// revokeAll ends every session, on every node within sessionCheckTTL.
func (a *authenticator) revokeAll(ctx context.Context) (int, error) {
	a.mu.Lock()
	clear(a.checked)
	a.mu.Unlock()
	return SignOutEverywhere(ctx, a.store)
}

// device returns the id of the request's valid device cookie, or "".
func (a *authenticator) device(r *http.Request) string {
	ck, err := r.Cookie(deviceCookie)
	if err != nil {
		return ""
	}
	id64, m64, ok := strings.Cut(ck.Value, ".")
	id, err1 := base64.RawURLEncoding.DecodeString(id64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil || len(id) != 16 || !hmac.Equal(mac, a.mac([]byte("device\x00"), id)) {
		return ""
	}
	return id64
}

// deviceValue returns the cookie value of device id64, or of a new device.
func (a *authenticator) deviceValue(id64 string) string {
	if id64 == "" {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		id64 = base64.RawURLEncoding.EncodeToString(id)
	}
	id, _ := base64.RawURLEncoding.DecodeString(id64)
	return id64 + "." + base64.RawURLEncoding.EncodeToString(a.mac([]byte("device\x00"), id))
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) error {
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which this server never grants: no login CSRF.
	if !isJSON(r.Header.Get("Content-Type")) {
		return errorf(http.StatusUnsupportedMediaType, "send the password as application/json")
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	a, t := c.auth, &c.auth.throttle
	client := t.client(r)
	dev := a.device(r)
	key := sourceKey(client)
	if dev != "" {
		key = "device " + dev // throttled on its own, outside the global queue
	}
	release, retry := t.admit(key, a.now())
	if retry > 0 {
		if n := t.refusedSinceLog(a.now()); n > 0 {
			c.log.WarnContext(r.Context(), "console: sign-in attempts refused by throttling", "attempts", n, "last_source", client.String())
		}
		w.Header().Set("Retry-After", retryAfter(retry))
		return errorf(http.StatusTooManyRequests, "too many failed sign-ins from your address: try again in %s s",
			retryAfter(retry))
	}
	defer release()
	if dev == "" {
		if err := t.turn(r.Context(), a.now()); err != nil {
			return errorf(http.StatusServiceUnavailable, "sign-in cancelled")
		}
	}
	ok, err := a.check(r.Context(), body.Password)
	if err != nil {
		return err
	}
	if body.Password == "" || !ok {
		n, wait := t.fail(key, a.now())
		// Never the password: only where the attempt came from.
		c.log.WarnContext(r.Context(), "console: failed sign-in", "source", client.String(), "peer", r.RemoteAddr,
			"known_device", dev != "", "failures", n, "throttled_for", wait)
		return errorf(http.StatusUnauthorized, "wrong password")
	}
	t.succeed(key)
	s, value, err := a.newSession(r.Context())
	if err != nil {
		return err
	}
	secure := isTLS(r)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/console", Expires: s.expires, MaxAge: int(c.opts.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	})
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: a.deviceValue(dev), Path: "/console/api/login", MaxAge: int(deviceTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	})
	c.log.InfoContext(r.Context(), "console: signed in", "source", client.String())
	writeJSON(w, http.StatusOK, map[string]any{"csrf_token": a.csrfToken(s), "expires": s.expires.UTC()})
	return nil
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r)})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	if s, err := c.auth.session(r); err == nil {
		if err := c.auth.revoke(r.Context(), s); err != nil {
			return err
		}
	}
	clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutEverywhere ends every session, this one included, on every node.
func (c *Console) logoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	n, err := c.auth.revokeAll(r.Context())
	if err != nil {
		return err
	}
	c.log.InfoContext(r.Context(), "console: signed out everywhere", "sessions", n, "source", c.auth.throttle.client(r).String())
	clearSessionCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"sessions_ended": n})
	return nil
}
