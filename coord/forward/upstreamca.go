package forward

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadCA returns the system's root certificates plus every certificate in
// the PEM file at path, for Config.UpstreamCA: the CA of https upstream
// proxies with private certificates. It is an error when the file cannot
// be read or holds no certificate.
func LoadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("forward: upstream CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("forward: upstream CA: %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("forward: upstream CA: %s: no PEM certificate in it", path)
	}
	return pool, nil
}
