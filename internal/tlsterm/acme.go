package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEOptions obtain certificates from an ACME CA (Let's Encrypt by
// default) with the TLS-ALPN-01 challenge, answered on the port itself: the
// CA must reach it as port 443 of each domain. Certificates are renewed
// before they expire (autocert renews 30 days ahead) without a restart.
type ACMEOptions struct {
	Domains      []string // host names; the only names served
	Email        string   // contact for the CA; optional
	CacheDir     string   // account key and certificates (created 0700)
	DirectoryURL string   // the CA's directory URL
	CAFile       string   // PEM roots for the directory instead of the system's; optional
}

// acmeManager wraps autocert (its types stay in this file).
type acmeManager struct {
	m        *autocert.Manager
	fallback string // the name served to clients without SNI
}

func newACME(o ACMEOptions, log *slog.Logger) (*acmeManager, error) {
	if o.CacheDir == "" || o.DirectoryURL == "" {
		return nil, errors.New("tlsterm: ACME needs CacheDir and DirectoryURL")
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsterm: acme cache: %w", err)
	}
	client := &acme.Client{DirectoryURL: o.DirectoryURL}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tlsterm: acme ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tlsterm: acme ca_file %s: no PEM certificate", o.CAFile)
		}
		client.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.CacheDir),
		HostPolicy: autocert.HostWhitelist(o.Domains...),
		Email:      o.Email,
		Client:     client,
	}
	a := &acmeManager{m: m, fallback: o.Domains[0]}
	log.Info("tls: certificates from ACME (TLS-ALPN-01 on this port)", "domains", o.Domains,
		"directory", o.DirectoryURL, "cache_dir", o.CacheDir)
	return a, nil
}

// getCertificate serves the domain's certificate, obtaining it on the first
// request (autocert keeps it in the cache and renews it), and answers
// TLS-ALPN-01 challenges. A client without SNI gets the first domain's.
func (a *acmeManager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.fallback
		hello = &h
	}
	return a.m.GetCertificate(hello)
}

// prefetch obtains (or loads from the cache) each domain's certificate in
// the background at start, so the first client does not wait for the CA.
// autocert bounds each attempt (5 minutes) and retries on the next request.
func (a *acmeManager) prefetch(domains []string, log *slog.Logger) {
	for _, d := range domains {
		go func() {
			// An ECDSA-capable client: the certificate modern clients get.
			hello := &tls.ClientHelloInfo{ServerName: d,
				SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:   []tls.CurveID{tls.CurveP256},
				CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
			if _, err := a.m.GetCertificate(hello); err != nil {
				log.Error("tls: acme: obtain certificate", "domain", d, "err", err)
				return
			}
			log.Info("tls: acme: certificate ready", "domain", d)
		}()
	}
}
