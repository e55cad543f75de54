package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrNotLoopback is returned by ResolveTarget for a host that is, or resolves
// to, an address outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("loadgen: target is not a loopback address")

// Target is a checked loopback endpoint. Every socket the tool opens dials IP
// (the address that passed the check), never the host name again, so a
// name cannot re-resolve elsewhere between the check and the dial.
type Target struct {
	IP   net.IP // loopback address that passed the check
	Port int
	// TLS, when set, makes every WebSocket connection speak TLS (wss://;
	// pixiu-bench --tls). The REST client stays plain.
	TLS *tls.Config
}

// Addr returns "ip:port" for dialling.
func (t Target) Addr() string { return net.JoinHostPort(t.IP.String(), strconv.Itoa(t.Port)) }

// IsV4 reports whether the target is an IPv4 address, so source addresses can
// be spread over 127.0.0.x.
func (t Target) IsV4() bool { return t.IP.To4() != nil }

// ResolveTarget parses raw ("ws://host:port", "http://host:port" or bare
// "host:port"), resolves the host and returns the target if every address it
// resolves to is a loopback address. wss/https are refused as schemes: TLS
// is the --tls flag (Target.TLS).
func ResolveTarget(ctx context.Context, raw string) (Target, error) {
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("parse target %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "http":
	default:
		return Target{}, fmt.Errorf("target %q: scheme %q not supported (use ws:// or http://)", raw, u.Scheme)
	}
	host, portStr := u.Hostname(), u.Port()
	if host == "" {
		return Target{}, fmt.Errorf("target %q: no host", raw)
	}
	port := 80
	if portStr != "" {
		if port, err = strconv.Atoi(portStr); err != nil || port <= 0 || port > 65535 {
			return Target{}, fmt.Errorf("target %q: bad port %q", raw, portStr)
		}
	}
	ips, err := lookup(ctx, host)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %s: cannot resolve (%v)", ErrNotLoopback, host, err)
	}
	var chosen net.IP
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return Target{}, fmt.Errorf("%w: %s resolves to %s", ErrNotLoopback, host, ip)
		}
		if chosen == nil || (chosen.To4() == nil && ip.To4() != nil) {
			chosen = ip // prefer IPv4 so source addresses can be spread
		}
	}
	if chosen == nil {
		return Target{}, fmt.Errorf("%w: %s resolves to nothing", ErrNotLoopback, host)
	}
	return Target{IP: chosen, Port: port}, nil
}

func lookup(ctx context.Context, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = a.IP
	}
	return ips, nil
}
