package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/spf13/pflag"
	"go.uber.org/goleak"
)

const testToken = "s3cret-token"

var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// testAgentSettings returns the settings of a non-dev agent on free
// loopback ports, as the flags and a config file would give them.
func testAgentSettings(t *testing.T, name, poolFile string, join ...string) *agentSettings {
	t.Helper()
	var extra []string
	if len(join) > 0 {
		extra = []string{"--join", strings.Join(join, ",")}
	}
	return testAgentSettingsWith(t, name, poolFile, extra...)
}

// testAgentSettingsWith is testAgentSettings with more flags, which win.
func testAgentSettingsWith(t *testing.T, name, poolFile string, extra ...string) *agentSettings {
	t.Helper()
	var s agentSettings
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	s.register(fs)
	args := []string{
		"--node-name", name,
		"--gossip-bind", "127.0.0.1:0",
		"--api-addr", "127.0.0.1:0",
		"--proxy-addr", "127.0.0.1:0",
		"--api-token", testToken,
		"--encrypt", testKey,
		"--pool-file", poolFile,
		"--push-pull-interval", "1s",
		"--rejoin-interval", "1s",
		"--shutdown-timeout", "5s",
	}
	if err := fs.Parse(append(args, extra...)); err != nil {
		t.Fatal(err)
	}
	if err := s.finish(fs); err != nil {
		t.Fatal(err)
	}
	return &s
}

func startTestAgent(t *testing.T, s *agentSettings) *agent {
	t.Helper()
	a, err := startAgent(context.Background(), s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("startAgent(%s): %v", s.nodeName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown(%s): %v", s.nodeName, err)
		}
	})
	return a
}

// TestThreeAgents runs three agents in one process over loopback, gossip
// encrypted, API behind a token: what one is told through its API, the
// others serve.
func TestThreeAgents(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	})
	farm := testproxy.Start(t, 3)
	origin := testproxy.NewOrigin(t)
	poolFile := filepath.Join(t.TempDir(), "pool.txt")
	var pool strings.Builder
	for _, u := range farm.URLs() {
		fmt.Fprintf(&pool, "%s region=local\n", u)
	}
	if err := os.WriteFile(poolFile, []byte(pool.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	a1 := startTestAgent(t, testAgentSettings(t, "node-1", poolFile))
	a2 := startTestAgent(t, testAgentSettings(t, "node-2", poolFile, a1.node.Addr()))
	a3 := startTestAgent(t, testAgentSettings(t, "node-3", poolFile, a1.node.Addr()))
	agents := []*agent{a1, a2, a3}
	clients := make([]*api.Client, 3)
	for i, a := range agents {
		clients[i] = api.NewClient("http://"+a.apiAddr, testToken, nil)
	}
	ctx := context.Background()
	testutil.Eventually(t, 15*time.Second, "all three are ready with three members", func() bool {
		for _, c := range clients {
			if r, err := c.Ready(ctx); err != nil || !r.Ready {
				return false
			}
			if ms, err := c.Members(ctx); err != nil || len(ms) != 3 {
				return false
			}
		}
		return true
	})

	// Writes need the token.
	anon := api.NewClient("http://"+a1.apiAddr, "", nil)
	var apiErr *api.Error
	if _, err := anon.Trip(ctx, farm.Proxies[0].URL(), time.Minute, "no token"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("trip without a token: %v, want 401", err)
	}

	// A trip through node 1's API is open in node 2's and node 3's.
	tripped := farm.Proxies[0].URL()
	if _, err := clients[0].Trip(ctx, tripped, 5*time.Minute, "test trip"); err != nil {
		t.Fatalf("trip: %v", err)
	}
	testutil.Eventually(t, 15*time.Second, "the trip is open on every node", func() bool {
		for _, c := range clients {
			b, err := c.Breaker(ctx, tripped)
			if err != nil || b.Phase != "open" {
				return false
			}
		}
		return true
	})

	// A policy update on node 2 is served by node 3.
	if _, err := clients[1].PatchPolicy(ctx, map[string]any{"retry": map[string]any{"max_attempts": 5}}); err != nil {
		t.Fatalf("patch policy: %v", err)
	}
	testutil.Eventually(t, 15*time.Second, "node 3 serves node 2's policy", func() bool {
		raw, err := clients[2].PolicyJSON(ctx)
		if err != nil {
			return false
		}
		doc, err := policy.ParseDocument(raw)
		return err == nil && doc.Retry.MaxAttempts == 5
	})

	// Node 3's forward proxy avoids the upstream tripped through node 1.
	before := farm.Proxies[0].Requests()
	pu, _ := url.Parse("http://" + a3.fwdAddr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	defer hc.CloseIdleConnections()
	for range 20 {
		resp, err := hc.Get(origin.Server().URL + "/through-node-3")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Retrycoord-Upstream") == tripped {
			t.Fatalf("through node 3: %d via %s", resp.StatusCode, resp.Header.Get("X-Retrycoord-Upstream"))
		}
	}
	if got := farm.Proxies[0].Requests(); got != before {
		t.Fatalf("the tripped proxy saw %d requests through node 3", got-before)
	}

	// A reset through node 3 closes it everywhere.
	if _, err := clients[2].Reset(ctx, tripped); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "the reset is closed on every node", func() bool {
		for _, c := range clients {
			if b, err := c.Breaker(ctx, tripped); err != nil || b.Phase != "closed" {
				return false
			}
		}
		return true
	})
}

func TestBadAgentConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad gossip address", []string{"--gossip-bind", "nowhere"}, "--gossip-bind"},
		{"bad join", []string{"--join", "a:b:c"}, "--join"},
		{"bad proxy auth", []string{"--proxy-auth", "justuser"}, "--proxy-auth"},
		{"negative interval", []string{"--push-pull-interval", "-1s"}, "--push-pull-interval"},
		{"bad key", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--encrypt", "not-base64!hunter2"}, "--encrypt: key 1 is not the base64 of 16, 24 or 32 bytes; make one with: head -c 32 /dev/urandom | base64"},
		{"short key", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--encrypt", testKey + "," + base64.StdEncoding.EncodeToString([]byte("hunter2"))}, "--encrypt: key 2 is not the base64"},
		{"missing pool file", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--pool-file", "/nonexistent/pool.txt"}, "--pool-file"},
		{"bad policy file", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--policy-file", "testdata/bad-policy.yaml"}, "--policy-file"},
		{"policy file typo", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--policy-file", "testdata/typo-policy.yaml"}, `unknown field "max_attemps" in retry (valid: max_attempts, `},
		{"policy file typo suggests", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--policy-file", "testdata/typo-policy.yaml"}, `; did you mean "max_attempts"?`},
		{"bad redis url", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--redis-url", "mysql://user:hunter2@db:3306"}, "--redis-url"},
		{"bad api address", []string{"--dev", "--gossip-bind", "127.0.0.1:0", "--api-addr", "256.0.0.1:1"}, "--api-addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCommand()
			cmd.SetArgs(append([]string{"agent", "--log-format", "json"}, tc.args...))
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "aHVudGVyMg") {
				t.Fatalf("error shows a secret: %v", err)
			}
			if strings.Contains(tc.want, "--encrypt") && (strings.Contains(err.Error(), "--gossip-bind") || strings.Contains(err.Error(), "--label")) {
				t.Fatalf("an --encrypt error names other flags: %v", err)
			}
		})
	}
}
