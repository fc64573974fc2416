package redistest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestStartWithPassword(t *testing.T) {
	s := StartWithPassword(t, "pw-redistest")
	if _, err := Do(s.Addr(), "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without the password: %v, want NOAUTH", err)
	}
}

func TestStartTLS(t *testing.T) {
	s := StartTLS(t)
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	c, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING over TLS = %q, %v", line, err)
	}
}
