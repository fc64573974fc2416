package forward

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	now := time.Now()
	cp, kp, err := NewCA("fleet-a", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	if !c.IsCA || !strings.Contains(c.Subject.CommonName, "retrycoord") || !strings.Contains(c.Subject.CommonName, "fleet-a") {
		t.Errorf("certificate %q IsCA %v: want a CA named retrycoord", c.Subject.CommonName, c.IsCA)
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key %T, want ECDSA", c.PublicKey)
	}
	if d := c.NotAfter.Sub(now); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("valid for %v, want a year", d)
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(ca.Fingerprint()) {
		t.Errorf("fingerprint %q, want 32 hex pairs", ca.Fingerprint())
	}
}

func TestParseCAErrors(t *testing.T) {
	cp, kp, err := NewCA("", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := NewCA("", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leafCA := testCA(t)
	lc, err := newLeafCache(leafCA, time.Hour, 1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := lc.get("example.com")
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pemCert(leaf.Leaf)
	expCert, expKey, err := NewCA("", time.Hour, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cert, key  []byte
		wantInText string
	}{
		{"not PEM", []byte("hello"), kp, "no PEM certificate"},
		{"another key", cp, otherKey, "CA key"},
		{"not a CA", leafPEM, kp, "not a CA"},
		{"expired", expCert, expKey, "expired"},
		{"no key", cp, []byte("nope"), "CA key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCA(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.wantInText) {
				t.Fatalf("err %v, want one saying %q", err, tc.wantInText)
			}
			if strings.Contains(err.Error(), string(otherKey[30:60])) || strings.Contains(err.Error(), string(kp[30:60])) {
				t.Errorf("the error shows key bytes: %v", err)
			}
		})
	}
}

func TestLoadInterceptCA(t *testing.T) {
	cp, kp, err := NewCA("", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(certFile, cp, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInterceptCA(certFile, keyFile); err == nil || !strings.Contains(err.Error(), "ca-key.pem") {
		t.Fatalf("missing key file: %v, want an error naming it", err)
	}
	if err := os.WriteFile(keyFile, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadInterceptCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca.CertificatePEM()) != string(cp) {
		t.Error("CertificatePEM differs from the file")
	}
}

// TestLeafCache: leaves are ECDSA, for exactly the name asked, signed by
// the CA, short-lived and never past the CA; cached, reissued after half
// their validity, and bounded.
func TestLeafCache(t *testing.T) {
	ca := testCA(t) // valid for an hour
	now := time.Now()
	clock := func() time.Time { return now }
	lc, err := newLeafCache(ca, 10*time.Minute, 2, clock)
	if err != nil {
		t.Fatal(err)
	}
	a, err := lc.get("a.example")
	if err != nil {
		t.Fatal(err)
	}
	l := a.Leaf
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	if _, err := l.Verify(x509.VerifyOptions{DNSName: "a.example", Roots: roots, CurrentTime: now}); err != nil {
		t.Errorf("leaf does not verify for a.example: %v", err)
	}
	if _, err := l.Verify(x509.VerifyOptions{DNSName: "b.example", Roots: roots, CurrentTime: now}); err == nil {
		t.Error("leaf for a.example verifies for b.example")
	}
	if d := l.NotAfter.Sub(now); !isECDSA(l) || d > 10*time.Minute || d < 10*time.Minute-time.Second { // x509 keeps whole seconds
		t.Errorf("leaf key %T, valid until +%v; want ECDSA, +10m", l.PublicKey, l.NotAfter.Sub(now))
	}
	if again, _ := lc.get("a.example"); again != a || lc.issued.Load() != 1 {
		t.Error("second get issued a new leaf")
	}
	now = now.Add(6 * time.Minute) // past half the validity
	if again, _ := lc.get("a.example"); again == a || lc.issued.Load() != 2 {
		t.Error("a leaf past half its validity was not reissued")
	}
	for _, n := range []string{"b.example", "c.example"} {
		if _, err := lc.get(n); err != nil {
			t.Fatal(err)
		}
	}
	if lc.len() != 2 {
		t.Errorf("cache holds %d leaves, want the bound 2", lc.len())
	}
	now = now.Add(50 * time.Minute) // the CA has 4 minutes left
	d, err := lc.get("d.example")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Leaf.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("leaf valid until %v, past the CA's %v", d.Leaf.NotAfter, ca.Certificate().NotAfter)
	}
	ip, err := lc.get("127.0.0.1")
	if err != nil || len(ip.Leaf.IPAddresses) != 1 || len(ip.Leaf.DNSNames) != 0 {
		t.Errorf("leaf for an IP: %v %v %v", err, ip.Leaf.IPAddresses, ip.Leaf.DNSNames)
	}
}

func TestHostPatterns(t *testing.T) {
	m, err := parseHostPatterns([]string{"Example.COM", "*.shop.test", ".blog.test", "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"example.com": true, "www.example.com": true, "notexample.com": false,
		"shop.test": true, "a.b.shop.test": true, "blog.test": true, "x.blog.test": true,
		"10.0.0.1": true, "10.0.0.2": false, "test": false,
	} {
		if got := m.match(host); got != want {
			t.Errorf("match(%q) = %v, want %v", host, got, want)
		}
	}
	if _, err := parseHostPatterns([]string{"http://x.test/"}); err == nil {
		t.Error("a URL was accepted as a host pattern")
	}
}

func isECDSA(c *x509.Certificate) bool {
	_, ok := c.PublicKey.(*ecdsa.PublicKey)
	return ok
}
