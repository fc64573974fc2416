package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "retrycoord test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestAPITLS: with --tls-cert and --tls-key the API serves HTTPS; the
// admin commands reach it with --ca-cert or --tls-insecure, and refuse an
// unknown certificate without either.
func TestAPITLS(t *testing.T) {
	cert, key := selfSigned(t)
	s := testAgentSettings(t, "tls-node", "")
	s.tlsCert, s.tlsKey = cert, key
	if err := s.loadTLS(); err != nil {
		t.Fatal(err)
	}
	a := startTestAgent(t, s)
	addr := "https://" + a.apiAddr
	testutil.Eventually(t, 15*time.Second, "the agent is ready", func() bool {
		_, err := runCLI(t, "", "health", "--addr", addr, "--ca-cert", cert)
		return err == nil
	})
	for _, args := range [][]string{
		{"health", "--addr", addr, "--ca-cert", cert},
		{"health", "--addr", addr, "--tls-insecure"},
		{"members", "--addr", addr, "--ca-cert", cert, "--json"},
		{"keys", "list", "--addr", addr, "--ca-cert", cert, "--token", testToken},
	} {
		if out, err := runCLI(t, "", args...); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if _, err := runCLI(t, "", "health", "--addr", addr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("health without the CA: %v, want a certificate error", err)
	}
	if _, err := runCLI(t, "", "health", "--addr", "http://"+a.apiAddr); err == nil {
		t.Error("plain HTTP to the HTTPS port worked")
	}
	if _, err := runCLI(t, "", "health", "--addr", addr, "--ca-cert", filepath.Join(t.TempDir(), "missing.pem")); err == nil ||
		!strings.Contains(err.Error(), "--ca-cert") {
		t.Errorf("a missing --ca-cert: %v, want it named", err)
	}
}

func TestBadTLSFlags(t *testing.T) {
	cert, key := selfSigned(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cert alone", []string{"--tls-cert", cert}, "--tls-cert: needs --tls-key"},
		{"key alone", []string{"--tls-key", key}, "--tls-key: needs --tls-cert"},
		{"missing cert", []string{"--tls-cert", missing, "--tls-key", key}, "--tls-cert: " + missing},
		{"missing key", []string{"--tls-cert", cert, "--tls-key", missing}, "--tls-key: " + missing},
		{"garbage key", []string{"--tls-cert", cert, "--tls-key", garbage}, "--tls-cert/--tls-key"},
		{"swapped", []string{"--tls-cert", key, "--tls-key", cert}, "--tls-cert/--tls-key"},
		{"missing upstream CA", []string{"--upstream-ca", missing}, "--upstream-ca: open " + missing},
		{"garbage upstream CA", []string{"--upstream-ca", garbage}, "--upstream-ca: " + garbage + ": no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s agentSettings
			fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			s.register(fs)
			if err := fs.Parse(append([]string{"--dev"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			err := s.finish(fs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if b, _ := os.ReadFile(key); strings.Contains(err.Error(), string(b)) {
				t.Error("the error contains the key")
			}
		})
	}
}
