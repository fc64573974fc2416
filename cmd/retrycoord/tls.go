package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
)

// loadTLS loads --tls-cert and --tls-key, both or neither, into s.apiTLS.
// Its errors name the flag and never contain the key's bytes.
func (s *agentSettings) loadTLS() error {
	switch {
	case s.tlsCert == "" && s.tlsKey == "":
		s.apiTLS = nil
		return nil
	case s.tlsCert == "":
		return errors.New("--tls-key: needs --tls-cert")
	case s.tlsKey == "":
		return errors.New("--tls-cert: needs --tls-key")
	}
	for _, f := range [][2]string{{"tls-cert", s.tlsCert}, {"tls-key", s.tlsKey}} {
		if _, err := os.Stat(f[1]); err != nil {
			return fmt.Errorf("--%s: %w", f[0], fileError(err))
		}
	}
	cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
	if err != nil {
		// crypto/tls's messages name the PEM problem, never the key.
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	s.apiTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

// fileError makes an os error read "path: reason", without the operation.
func fileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// tlsOptions are the admin subcommands' flags for an https --addr.
type tlsOptions struct {
	caCert   string
	insecure bool
	config   *tls.Config // loaded by load; nil: the system's roots
}

// load reads --ca-cert into a TLS client configuration.
func (o *tlsOptions) load() error {
	if o.caCert == "" && !o.insecure {
		o.config = nil
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // asked for with --tls-insecure, for development
	}
	if o.caCert != "" {
		pem, err := os.ReadFile(o.caCert)
		if err != nil {
			return fmt.Errorf("--ca-cert: %w", fileError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-cert %s: no PEM certificate in it", o.caCert)
		}
		cfg.RootCAs = pool
	}
	o.config = cfg
	return nil
}

// transport returns an HTTP transport with the loaded TLS configuration,
// or nil for the default transport.
func (o *tlsOptions) transport() http.RoundTripper {
	if o.config == nil {
		return nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = o.config
	return t
}
