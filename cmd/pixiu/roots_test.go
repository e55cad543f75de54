package main

import (
	"crypto/x509"
	"testing"
)

// TestRootsWithoutSystemCertificates: on a system without CA certificates
// (the FROM-scratch image; here simulated by pointing Go at none) the binary
// still has roots to verify https webhook receivers and rediss:// with.
func TestRootsWithoutSystemCertificates(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", "/nonexistent/pixiu-test-ca.pem")
	t.Setenv("SSL_CERT_DIR", "/nonexistent/pixiu-test-certs")
	pool, err := x509.SystemCertPool()
	if err != nil {
		t.Fatalf("SystemCertPool: %v", err)
	}
	if pool.Equal(x509.NewCertPool()) {
		t.Fatal("no root certificates without the system's: the fallback bundle is not linked")
	}
}
