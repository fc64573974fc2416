package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/spf13/pflag"
)

// runCA runs `retrycoord ca args...` and returns its stdout and stderr.
func runCA(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"ca"}, args...))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// caInit makes a CA in a temp dir and returns the dir and its fingerprint.
func caInit(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	out, _, err := runCA(t, "init", "--dir", dir)
	if err != nil {
		t.Fatalf("ca init: %v", err)
	}
	ca, err := forward.LoadInterceptCA(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "SHA-256 fingerprint: "+ca.Fingerprint()+"\n") {
		t.Fatalf("ca init printed %q, without the fingerprint %s", out, ca.Fingerprint())
	}
	return dir, ca.Fingerprint()
}

func TestCAInitAndShow(t *testing.T) {
	dir, fp := caInit(t)
	st, err := os.Stat(filepath.Join(dir, caKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if _, _, err := runCA(t, "init", "--dir", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init without --force: %v, want a refusal", err)
	}
	out, errOut, err := runCA(t, "show", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	if out != string(want) {
		t.Errorf("ca show printed %q, want the certificate file", out)
	}
	key, _ := os.ReadFile(filepath.Join(dir, caKeyFile))
	if strings.Contains(out+errOut, "PRIVATE KEY") || strings.Contains(out+errOut, string(key[40:80])) {
		t.Error("ca show printed the key")
	}
	if !strings.Contains(errOut, fp) || !strings.Contains(errOut, "retrycoord fleet CA") {
		t.Errorf("ca show's stderr %q lacks the name or fingerprint", errOut)
	}
	if _, _, err := runCA(t, "init", "--dir", dir, "--force"); err != nil {
		t.Fatalf("init --force: %v", err)
	}
	if _, newFP := caInitFingerprint(t, dir); newFP == fp {
		t.Error("init --force kept the old CA")
	}
}

func caInitFingerprint(t *testing.T, dir string) (*forward.CA, string) {
	t.Helper()
	ca, err := forward.LoadInterceptCA(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return ca, ca.Fingerprint()
}

// TestAgentIntercepts: an agent with the CA from `ca init` intercepts
// HTTPS: the origin's 503 is retried, /v1/health shows the fingerprint
// and never the key, /metrics counts the intercepted request.
func TestAgentIntercepts(t *testing.T) {
	dir, fp := caInit(t)
	var mu sync.Mutex
	calls := 0
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(origin.Close)
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	farm := testproxy.Start(t, 2)
	poolFile := filepath.Join(t.TempDir(), "pool.txt")
	if err := os.WriteFile(poolFile, []byte(strings.Join(farm.URLs(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startTestAgent(t, testAgentSettingsWith(t, "mitm-1", poolFile,
		"--mitm-ca-cert", filepath.Join(dir, caCertFile), "--mitm-ca-key", filepath.Join(dir, caKeyFile),
		"--mitm-roots", roots, "--mitm-ip-targets"))

	caPEM, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pu, _ := url.Parse("http://" + a.fwdAddr)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get(origin.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Header.Get(coord.HeaderAttempts) != "2" {
		t.Fatalf("got %d %q attempts %q; want 200 ok after 2", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
	}

	key, _ := os.ReadFile(filepath.Join(dir, caKeyFile))
	keyBody := strings.Join(strings.Split(string(key), "\n")[1:3], "")
	get := func(path string) string {
		r, err := http.Get("http://" + a.apiAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), keyBody) || strings.Contains(string(b), "PRIVATE KEY") {
			t.Errorf("%s serves the CA key", path)
		}
		return string(b)
	}
	var h struct {
		MITMCA string `json:"mitm_ca_sha256"`
	}
	if err := json.Unmarshal([]byte(get("/v1/health")), &h); err != nil || h.MITMCA != fp {
		t.Errorf("health: %v, mitm_ca_sha256 %q; want %s", err, h.MITMCA, fp)
	}
	metrics := get("/metrics")
	for _, line := range []string{"retrycoord_forward_mitm_requests_total 1", "retrycoord_forward_mitm_connections_total 1",
		"retrycoord_forward_tunnels_total 0", `retrycoord_forward_mitm_handshake_failures_total{cause="untrusted"} 0`} {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestBadMITMConfig(t *testing.T) {
	dir, _ := caInit(t)
	other, _ := caInit(t)
	cert, key := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	otherKey := filepath.Join(other, caKeyFile)
	keyPEM, _ := os.ReadFile(otherKey)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--mitm-ca-cert", cert}, "--mitm-ca-cert: needs --mitm-ca-key"},
		{"key without cert", []string{"--mitm-ca-key", key}, "--mitm-ca-key: needs --mitm-ca-cert"},
		{"hosts without CA", []string{"--mitm-hosts", "example.com"}, "--mitm-hosts: needs --mitm-ca-cert"},
		{"another CA's key", []string{"--mitm-ca-cert", cert, "--mitm-ca-key", otherKey}, "--mitm-ca-cert/--mitm-ca-key: CA key"},
		{"bad host pattern", []string{"--mitm-ca-cert", cert, "--mitm-ca-key", key, "--no-mitm-hosts", "https://x.test/"}, "--no-mitm-hosts"},
		{"roots without certificates", []string{"--mitm-ca-cert", cert, "--mitm-ca-key", key, "--mitm-roots", key}, "--mitm-roots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s agentSettings
			fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			s.register(fs)
			if err := fs.Parse(append([]string{"--dev"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			err := s.finish(fs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), string(keyPEM[40:80])) {
				t.Errorf("the error shows key bytes: %v", err)
			}
		})
	}
}

// TestMITMSettingsFromEnvAndFile: the interception settings come from
// RETRYCOORD_* variables and config file keys like every other setting.
func TestMITMSettingsFromEnvAndFile(t *testing.T) {
	dir, fp := caInit(t)
	conf := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(conf, []byte("mitm-ca-key: "+filepath.Join(dir, caKeyFile)+"\nno-mitm-hosts: [pinned.example, bank.example]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var s agentSettings
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	s.register(fs)
	if err := fs.Parse([]string{"--dev", "--config", conf}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RETRYCOORD_MITM_CA_CERT": filepath.Join(dir, caCertFile), "RETRYCOORD_MITM_HOSTS": "shop.example"}
	if err := applyConfig(fs, "config", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := s.finish(fs); err != nil {
		t.Fatal(err)
	}
	if s.mitmCA == nil || s.mitmCA.Fingerprint() != fp || strings.Join(s.mitmHosts, ",") != "shop.example" ||
		strings.Join(s.noMitmHosts, ",") != "pinned.example,bank.example" {
		t.Errorf("settings: CA %v, hosts %v, no-hosts %v", s.mitmCA != nil, s.mitmHosts, s.noMitmHosts)
	}
}
