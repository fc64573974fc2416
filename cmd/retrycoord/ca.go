package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/spf13/cobra"
)

// The files `retrycoord ca init` writes into --dir.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

func newCACommand() *cobra.Command {
	ca := &cobra.Command{
		Use:   "ca",
		Short: "The fleet's own CA, for the forward proxy's TLS interception",
		Long: `ca makes and shows the fleet's own certificate authority. With it, the agent's
forward proxy can intercept HTTPS (--mitm-ca-cert, --mitm-ca-key): it answers CONNECT
itself, shows the client a certificate for the host signed by this CA, and sends every
request through the pool with retries, failover and the fleet's breakers, so that HTTPS
answers (503, 403 bans) are seen. Clients must trust the CA's certificate
(curl --cacert, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, a Go RootCAs pool).

The same two files go to every node; the key never leaves them (not over gossip,
not through the API, which shows only the fingerprint).`,
	}
	ca.AddCommand(newCAInitCommand(), newCAShowCommand())
	return ca
}

func newCAInitCommand() *cobra.Command {
	var (
		dir      string
		name     string
		validity time.Duration
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Make a new CA: DIR/ca.pem and DIR/ca-key.pem (mode 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validity <= 0 {
				return fmt.Errorf("--validity %v: want a positive duration", validity)
			}
			certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
			if !force {
				for _, p := range []string{certPath, keyPath} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists: a new CA would make every client trusting the old one fail; "+
							"use --force to replace it", p)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return fileError(err)
					}
				}
			}
			certPEM, keyPEM, err := forward.NewCA(name, validity, time.Now())
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fileError(err)
			}
			if err := writeFileMode(keyPath, keyPEM, 0o600); err != nil {
				return err
			}
			if err := writeFileMode(certPath, certPEM, 0o644); err != nil {
				return err
			}
			parsed, err := forward.ParseCA(certPEM, keyPEM)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s (certificate, for clients to trust) and %s (key, mode 0600: keep it secret)\n", certPath, keyPath)
			fmt.Fprintf(out, "SHA-256 fingerprint: %s\n", parsed.Fingerprint())
			fmt.Fprintf(out, "valid until %s\n", parsed.Certificate().NotAfter.UTC().Format(time.RFC3339))
			fmt.Fprintf(out, "use it: retrycoord agent --mitm-ca-cert %s --mitm-ca-key %s ...\n", certPath, keyPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write ca.pem and ca-key.pem into")
	cmd.Flags().StringVar(&name, "name", "", "added to the CA's name (retrycoord fleet CA <name>)")
	cmd.Flags().DurationVar(&validity, "validity", forward.DefaultCAValidity, "how long the CA is valid")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing CA")
	return cmd
}

// writeFileMode writes a file that gets mode perm even if it existed.
func writeFileMode(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fileError(err)
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return fileError(err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fileError(err)
	}
	return fileError(f.Close())
}

func newCAShowCommand() *cobra.Command {
	var dir, cert string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the CA's certificate (PEM, on stdout) for clients to trust; its fingerprint on stderr",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := cert
			if path == "" {
				path = filepath.Join(dir, caCertFile)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fileError(err)
			}
			c, err := forward.ParseCertificatePEM(b)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if !c.IsCA {
				return fmt.Errorf("%s: not a CA certificate", path)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s\nSHA-256 fingerprint: %s\nvalid until %s\n",
				c.Subject.CommonName, forward.Fingerprint(c), c.NotAfter.UTC().Format(time.RFC3339))
			_, err = cmd.OutOrStdout().Write(pemOf(c.Raw))
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory holding ca.pem")
	cmd.Flags().StringVar(&cert, "cert", "", "the CA certificate file (default: <dir>/ca.pem)")
	return cmd
}

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
