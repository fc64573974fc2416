package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// deadAddr returns a loopback host:port where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// getReady returns /v1/ready's status and decoded body.
func getReady(t *testing.T, apiAddr, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + apiAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestAgentWithSeedsNeverJoinedIsNotReady: a node told to join seeds that
// never answer is alive but not ready, and says it is degraded, until
// another node exchanges state with it; --bootstrap keeps the single-node
// behaviour (ready, degraded, after --ready-timeout).
func TestAgentWithSeedsNeverJoinedIsNotReady(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	})
	pool := filepath.Join(t.TempDir(), "pool.txt")
	if err := os.WriteFile(pool, []byte("http://127.0.0.1:9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := deadAddr(t)

	lonely := startTestAgent(t, testAgentSettingsWith(t, "lonely", pool, "--join", seed, "--ready-timeout", "50ms"))
	testutil.Eventually(t, 15*time.Second, "the lonely node reports degraded", func() bool {
		_, body := getReady(t, lonely.apiAddr, "/v1/ready")
		return body["degraded"] == true
	})
	code, body := getReady(t, lonely.apiAddr, "/v1/ready")
	if code != http.StatusServiceUnavailable || body["ready"] != false || !strings.Contains(body["reason"].(string), "never joined any seed of --join ("+seed+")") {
		t.Fatalf("/v1/ready = %d %v, want 503, ready false, degraded, the seeds named", code, body)
	}
	if code, _ := getReady(t, lonely.apiAddr, "/v1/health"); code != http.StatusOK {
		t.Fatalf("/v1/health = %d, want 200: liveness does not depend on the fleet", code)
	}
	r, err := api.NewClient("http://"+lonely.apiAddr, "", nil).Ready(context.Background())
	if err != nil || r.Ready || !strings.HasPrefix(r.Reason, "not ready: never joined") {
		t.Fatalf("client Ready = %+v, %v; want not ready with the reason", r, err)
	}
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs([]string{"health", "--addr", lonely.apiAddr})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err = cmd.Execute()
	if exitCode(err) != exitNotReady || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "never joined") {
		t.Fatalf("health: %v (exit %d); want exit 2 and one line", err, exitCode(err))
	}

	// A node that joins the lonely one gives it the fleet: now it is ready.
	startTestAgent(t, testAgentSettings(t, "friend", pool, lonely.node.Addr()))
	testutil.Eventually(t, 15*time.Second, "the lonely node is ready once someone joined it", func() bool {
		code, body := getReady(t, lonely.apiAddr, "/v1/ready")
		return code == http.StatusOK && body["ready"] == true && body["degraded"] == false
	})

	// --bootstrap: a node that may start the fleet alone is ready, degraded.
	boot := startTestAgent(t, testAgentSettingsWith(t, "boot", pool, "--join", deadAddr(t), "--ready-timeout", "50ms", "--bootstrap"))
	testutil.Eventually(t, 15*time.Second, "the bootstrap node is ready", func() bool {
		code, _ := getReady(t, boot.apiAddr, "/v1/ready")
		return code == http.StatusOK
	})
	if _, body := getReady(t, boot.apiAddr, "/v1/ready"); body["degraded"] != true {
		t.Fatalf("bootstrap node: %v, want ready and degraded", body)
	}
}

// TestAgentThatNeverStartedLogsNoStop: an agent that fails to start (its
// gossip port taken) says why in one clause and never logs "agent stopped".
func TestAgentThatNeverStartedLogsNoStop(t *testing.T) {
	others := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, others) }) // a failed start leaves nothing running
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, flag := range []string{"--gossip-bind", "--api-addr", "--proxy-addr"} {
		t.Run(flag, func(t *testing.T) {
			var logs testutil.SyncBuffer
			s := testAgentSettingsWith(t, "second", "", flag, taken.Addr().String())
			a, err := startAgent(context.Background(), s, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err == nil {
				_ = a.Shutdown(context.Background())
				t.Fatal("started on a port in use")
			}
			want := flag + " " + taken.Addr().String() + ": address in use: is another agent running?"
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if strings.Contains(logs.String(), "agent stopped") {
				t.Errorf("an agent that never started logged its stop:\n%s", logs.String())
			}
		})
	}
}

// TestAgentNoAccidentalOpenProxy: a forward proxy beyond loopback needs
// --proxy-auth, or --proxy-open to be open on purpose.
func TestAgentNoAccidentalOpenProxy(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"loopback, no auth", []string{"--proxy-addr", "127.0.0.1:0"}, ""},
		{"localhost, no auth", []string{"--proxy-addr", "localhost:0"}, ""},
		{"ipv6 loopback", []string{"--proxy-addr", "[::1]:0"}, ""},
		{"off", []string{"--proxy-addr", ""}, ""},
		{"wildcard, no auth", []string{"--proxy-addr", "0.0.0.0:7948"}, "--proxy-addr: 0.0.0.0:7948 is beyond loopback and --proxy-auth is not set"},
		{"empty host, no auth", []string{"--proxy-addr", ":7948"}, "--proxy-open to run an open proxy on purpose"},
		{"a LAN address, no auth", []string{"--proxy-addr", "10.1.2.3:7948"}, "--proxy-auth user:password"},
		{"wildcard with auth", []string{"--proxy-addr", "0.0.0.0:7948", "--proxy-auth", "u:p"}, ""},
		{"wildcard, open on purpose", []string{"--proxy-addr", "0.0.0.0:7948", "--proxy-open"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s agentSettings
			fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			s.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := s.finish(fs)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("finish: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("finish: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestAgentWarnings: a token sent in clear beyond loopback and an open
// proxy are warned about; loopback and TLS are not.
func TestAgentWarnings(t *testing.T) {
	base := agentSettings{encrypt: []string{testKey}, apiToken: testToken, proxyAuth: "u:p"}
	tests := []struct {
		name     string
		mod      func(*agentSettings)
		api, fwd string
		want     string // "" for no warning
	}{
		{"loopback", nil, "127.0.0.1:7947", "127.0.0.1:7948", ""},
		{"token in clear", nil, "[::]:7947", "127.0.0.1:7948", "the admin API listens on [::]:7947, beyond loopback, without TLS: the API token travels in clear"},
		{"token over TLS", func(s *agentSettings) { s.apiTLS = &tls.Config{MinVersion: tls.VersionTLS12} }, "[::]:7947", "", ""},
		{"open proxy", func(s *agentSettings) { s.proxyAuth, s.proxyOpen = "", true }, "127.0.0.1:7947", "0.0.0.0:7948", "the forward proxy on 0.0.0.0:7948 is open (--proxy-open)"},
		{"dev", func(s *agentSettings) { s.dev = true }, "[::]:7947", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			if tc.mod != nil {
				tc.mod(&s)
			}
			a := &agent{settings: &s, apiAddr: tc.api, fwdAddr: tc.fwd, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			got := strings.Join(a.warnings(), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("warnings = %q, want %q", got, tc.want)
			}
		})
	}
}
