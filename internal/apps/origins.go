package apps

import (
	"fmt"
	"strings"
)

// Bounds of AllowedOrigins.
const (
	MaxAllowedOrigins = 100
	MaxOriginLen      = 200
)

// OriginAllowed reports whether a WebSocket handshake with this Origin header
// may connect: always when AllowedOrigins is empty or the header is absent
// (only browsers send it, and a non-browser client can send anything);
// otherwise when an entry matches it. An entry is "*" (any origin), an exact
// origin "https://app.example.com[:port]", or one with a wildcard first
// label "https://*.example.com", which matches subdomains at any depth but
// not example.com itself. Scheme and host compare case-insensitively; the
// port must match exactly (none in the entry means none in the header).
func (s *Settings) OriginAllowed(origin string) bool {
	if len(s.AllowedOrigins) == 0 || origin == "" {
		return true
	}
	origin = strings.ToLower(origin)
	for _, p := range s.AllowedOrigins {
		p = strings.ToLower(p)
		if p == "*" || p == origin {
			return true
		}
		scheme, rest, ok := strings.Cut(p, "://*.")
		if ok && strings.HasPrefix(origin, scheme+"://") && strings.HasSuffix(origin, "."+rest) &&
			len(origin) > len(scheme)+len("://.")+len(rest) {
			return true
		}
	}
	return false
}

// checkOrigins reports malformed AllowedOrigins entries: each must be "*" or
// scheme://host[:port] (http, https, or a scheme a WebView sends such as
// capacitor), with an optional "*." before the host and no path.
func checkOrigins(fe FieldErrors, list []string) {
	if len(list) > MaxAllowedOrigins {
		fe["allowed_origins"] = fmt.Sprintf("at most %d origins", MaxAllowedOrigins)
		return
	}
	for _, p := range list {
		if p == "*" {
			continue
		}
		scheme, host, ok := strings.Cut(p, "://")
		host = strings.TrimPrefix(host, "*.")
		switch {
		case len(p) > MaxOriginLen:
			fe["allowed_origins"] = fmt.Sprintf("origin %.40q…: at most %d bytes", p, MaxOriginLen)
		case !ok || scheme == "" || strings.Trim(strings.ToLower(scheme), "abcdefghijklmnopqrstuvwxyz0123456789+-.") != "":
			fe["allowed_origins"] = fmt.Sprintf("origin %q: want scheme://host[:port], e.g. https://app.example.com", p)
		case host == "" || strings.ContainsAny(host, "/?#@*\\ \t"):
			fe["allowed_origins"] = fmt.Sprintf("origin %q: want scheme://host[:port] without a path, e.g. https://*.example.com", p)
		default:
			continue
		}
		return
	}
}
