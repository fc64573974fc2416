package forward

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// TestUpstreamCA: an https upstream proxy whose certificate a private CA
// signed is reached with UpstreamCA from LoadCA, for plain requests and
// CONNECT; without it, the certificate is refused.
func TestUpstreamCA(t *testing.T) {
	px, err := testproxy.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	srv := httptest.NewTLSServer(px)
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCA(caFile)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	origin, tlsOrigin := testproxy.NewOrigin(t), testproxy.NewTLSOrigin(t)

	_, purl := serve(t, Config{Coordinator: newCoord(t, srv.URL), UpstreamCA: pool})
	if resp, body := get(t, client(t, purl, nil, true), origin.URL); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET through the https upstream: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, client(t, purl, originTLS(tlsOrigin), false), tlsOrigin.URL); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("CONNECT through the https upstream: %d %q", resp.StatusCode, body)
	}

	_, purl = serve(t, Config{Coordinator: newCoord(t, srv.URL)})
	resp, body := get(t, client(t, purl, nil, true), origin.URL)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "certificate") {
		t.Fatalf("without UpstreamCA: %d %q, want 502 naming the certificate", resp.StatusCode, body)
	}
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{garbage, "no PEM certificate"},
	} {
		if _, err := LoadCA(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadCA(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
}
