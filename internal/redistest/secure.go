package redistest

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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/serverproc"
)

// StartWithPassword starts a standalone server (as Start does) that
// requires password from every client, as redis-server --requirepass does:
// connect with redis://:password@Addr(). The password is set once the
// server answers PING; a server started again with Start has none.
func StartWithPassword(t testing.TB, password string) *Server {
	t.Helper()
	s := start(t, nil)
	if _, err := Do(s.Addr(), "CONFIG", "SET", "requirepass", password); err != nil {
		t.Fatalf("redistest: set requirepass: %v", err)
	}
	return s
}

// TLSServer is a standalone server that also serves TLS on TLSAddr, with a
// certificate for 127.0.0.1 signed by a CA made for the test.
type TLSServer struct {
	*Server
	// TLSAddr is "127.0.0.1:port" of the TLS listener (rediss://).
	TLSAddr string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate; CA holds the same certificate parsed.
	CAFile string
	CA     *x509.Certificate
}

// StartTLS starts a standalone server with a TLS port besides its plain
// one (which the helper uses for PING). Clients need no certificate. The
// test is skipped when redis-server was built without TLS.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err == nil && !tlsSupported() {
		t.Skip("redistest: this redis-server was built without TLS (--tls-port is unknown)")
	}
	dir := t.TempDir()
	ca, caFile, certFile, keyFile := writeCerts(t, dir)
	port, err := serverproc.FreePort()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := start(t, []string{
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certFile,
		"--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "no",
	})
	return &TLSServer{Server: s, TLSAddr: "127.0.0.1:" + strconv.Itoa(port), CAFile: caFile, CA: ca}
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and writes
// them as PEM files into dir.
func writeCerts(t testing.TB, dir string) (ca *x509.Certificate, caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, caFile, certFile, keyFile
}

// tlsSupported reports whether redis-server knows --tls-port: a build with
// TLS exits at once complaining that it listens nowhere.
var tlsSupported = sync.OnceValue(func() bool {
	out, _ := exec.Command("redis-server", "--port", "0", "--tls-port", "0").CombinedOutput()
	return strings.Contains(string(out), "not listen anywhere")
})
