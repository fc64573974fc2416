package forward

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// DefaultCAValidity is how long a CA made by NewCA is valid.
const DefaultCAValidity = 365 * 24 * time.Hour

// CA is the fleet's own certificate authority for TLS interception: the
// same certificate and key on every node, trusted by the clients of the
// forward proxy. Its key signs the leaf certificates the proxy shows to
// clients; it is never logged, never written into an error and never
// served. A CA is immutable and safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// NewCA makes a new CA: an ECDSA P-256 key and a self-signed CA
// certificate named "retrycoord fleet CA" (plus name, when not empty),
// valid from now for validity (DefaultCAValidity when ≤ 0). It returns the
// certificate and the PKCS #8 key, both PEM; the caller writes the key
// with mode 0600.
func NewCA(name string, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("forward: CA key: %w", err)
	}
	cn := "retrycoord fleet CA"
	if name = strings.TrimSpace(name); name != "" {
		cn += " " + name
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"retrycoord"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("forward: CA certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("forward: CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// LoadInterceptCA reads the CA's certificate and key from PEM files (as
// NewCA writes them) and checks them with ParseCA. Its errors name the
// files, never the key's bytes.
func LoadInterceptCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("forward: CA certificate: %w", err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("forward: CA key: %w", err)
	}
	return ParseCA(cb, kb)
}

// ParseCA returns the CA of a PEM certificate and a PEM private key
// (PKCS #8, SEC 1 EC or PKCS #1 RSA). It is an error when the certificate
// is not a CA that may sign certificates, has expired, or the key is not
// its own.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) { return parseCA(certPEM, keyPEM, time.Now()) }

func parseCA(certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	block, rest := pem.Decode(certPEM)
	for block != nil && block.Type != "CERTIFICATE" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("forward: CA certificate: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("forward: CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("forward: CA certificate: not a CA certificate that may sign certificates")
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("forward: CA certificate: expired on %s; make a new one (retrycoord ca init)", cert.NotAfter.UTC().Format(time.DateOnly))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's messages name the PEM problem, never the key.
		return nil, fmt.Errorf("forward: CA key: %w", err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("forward: CA key: not a signing key")
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: key}, nil
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertificatePEM returns the CA's certificate in PEM, for clients to trust.
func (ca *CA) CertificatePEM() []byte { return ca.certPEM }

// Fingerprint returns the SHA-256 fingerprint of the CA's certificate, as
// upper-case hex pairs joined by colons (openssl x509 -fingerprint -sha256).
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Fingerprint returns the SHA-256 fingerprint of cert, as upper-case hex
// pairs joined by colons.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil { // crypto/rand does not fail on supported platforms
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

// LoadRoots returns the system's root certificates plus every certificate
// in the PEM file at path, for Interception.Roots: the roots of private
// origins, or of test servers. It is an error when the file cannot be read
// or holds no certificate.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("forward: origin roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("forward: origin roots: %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// ParseCertificatePEM returns the first certificate of PEM data.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(b)
	for block != nil && block.Type != "CERTIFICATE" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("forward: no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// CheckHostPatterns reports the first entry of Interception.Hosts or
// NoHosts syntax that is wrong.
func CheckHostPatterns(ps []string) error {
	_, err := parseHostPatterns(ps)
	return err
}
