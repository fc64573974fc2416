package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

const adminTestToken = "admin-t0ken"

// adminAgent is an in-process API over a running coordinator whose pool is
// two test proxies, the second with a password.
type adminAgent struct {
	c     *coord.Coordinator
	h     *api.Handler
	srv   *httptest.Server
	plain string // key of the first upstream
	cred  string // key of the second, whose URL has a password
}

const adminSecret = "pw-admin-secret"

func newAdminAgent(t *testing.T, ready func() api.Readiness) *adminAgent {
	t.Helper()
	// Registered first, so it runs last: nothing this test started may
	// outlive it. Goroutines of other tests are ignored.
	others := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, others) })
	farm := testproxy.Start(t, 2)
	c, err := coord.New(coord.Config{Pool: []coord.PoolEntry{
		{URL: farm.Proxies[0].URL(), Meta: map[string]string{"region": "eu"}},
		{URL: "http://bob:" + adminSecret + "@" + farm.Proxies[1].Addr()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); _ = c.Close(); <-done })
	h, err := api.NewHandler(api.Config{Coordinator: c, Token: adminTestToken, Ready: ready, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = h.Close() }) // first: srv.Close waits for streams
	return &adminAgent{c: c, h: h, srv: srv, plain: "http://" + farm.Proxies[0].Addr(), cred: "http://" + farm.Proxies[1].Addr()}
}

// run executes one admin command line against the agent, with the address
// and token from the environment, and returns its output and error.
func (a *adminAgent) run(t *testing.T, ctx context.Context, stdin string, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{adminEnvAddr: a.srv.URL, adminEnvToken: adminTestToken}
	root := &cobra.Command{Use: "retrycoord", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newAdminCommandsWith(func(o *adminOptions) {
		o.getenv = func(k string) string { return env[k] }
	})...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	if ctx == nil {
		ctx = context.Background()
	}
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestAdminCommands(t *testing.T) {
	a := newAdminAgent(t, nil)
	dir := t.TempDir()
	yamlPatch := filepath.Join(dir, "patch.yaml")
	if err := os.WriteFile(yamlPatch, []byte("retry:\n  max_attempts: 6\n  base_delay: 200ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badPatch := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badPatch, []byte(`{"retry":{"max_attempts":99}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    []string // substrings of the output
		wantErr string   // substring of the error; "" for success
	}{
		{name: "members", args: []string{"members"}, want: []string{"NAME", "local", "alive"}},
		{name: "members json", args: []string{"members", "--json"}, want: []string{`"name": "local"`}},
		{name: "breakers", args: []string{"breakers"}, want: []string{"UPSTREAM", a.plain, a.cred, "closed"}},
		{name: "trip", args: []string{"trip", a.plain, "--for", "5m", "--reason", "maintenance"}, want: []string{a.plain, "open", "maintenance"}},
		{name: "breakers open", args: []string{"breakers", "--state", "open"}, want: []string{a.plain, "open", "5m0s"}},
		{name: "breakers open json", args: []string{"breakers", "--state=open", "--json"}, want: []string{`"phase": "open"`, `"reason": "maintenance"`}},
		{name: "breakers bad state", args: []string{"breakers", "--state", "ajar"}, wantErr: "want open, half-open or closed"},
		{name: "trip too short", args: []string{"trip", a.plain, "--for", "10ms"}, wantErr: "(HTTP 400)"},
		{name: "trip unknown", args: []string{"trip", "http://10.9.9.9:1"}, wantErr: `unknown upstream "http://10.9.9.9:1"`},
		{name: "trip no arg", args: []string{"trip"}, wantErr: "usage: retrycoord trip UPSTREAM [--site SITE] [--for 5m] [--reason TEXT], or retrycoord trip --site SITE"},
		{name: "trip no scheme", args: []string{"trip", "127.0.0.1:9"}, wantErr: "127.0.0.1:9 has no scheme: did you mean http://127.0.0.1:9?"},
		{name: "reset no arg", args: []string{"reset"}, wantErr: "usage: retrycoord reset UPSTREAM"},
		{name: "reset", args: []string{"reset", a.plain}, want: []string{a.plain, "closed", "reset by operator"}},
		{name: "trip site", args: []string{"trip", "--site", "example.com", "--reason", "down"}, want: []string{"site ", "example.com", "open", "down"}},
		{name: "trip pair", args: []string{"trip", a.plain, "--site", "example.org"}, want: []string{"pair ", a.plain, "example.org", "open"}},
		{name: "breakers level site", args: []string{"breakers", "--level", "site"}, want: []string{"LEVEL", "SITE", "example.com"}},
		{name: "breakers site", args: []string{"breakers", "--site", "example.org", "--json"}, want: []string{`"level": "pair"`, `"site": "example.org"`}},
		{name: "breakers bad level", args: []string{"breakers", "--level", "planet"}, wantErr: "want proxy, pair or site"},
		{name: "reset site", args: []string{"reset", "--site", "example.com"}, want: []string{"example.com", "closed", "reset by operator"}},
		{name: "reset pair", args: []string{"reset", a.plain, "--site", "example.org"}, want: []string{a.plain, "example.org", "closed"}},
		{name: "trip site with space", args: []string{"trip", "--site", "a b"}, wantErr: "(HTTP 400)"},
		{name: "policy get", args: []string{"policy", "get"}, want: []string{`"version": 1`}},
		{name: "policy get effective", args: []string{"policy", "get", "--effective"}, want: []string{`"failure_threshold": 5`, `"open_timeout": "30s"`, `"strategy": "p2c"`}},
		{name: "policy set yaml", args: []string{"policy", "set", yamlPatch}, want: []string{`"max_attempts": 6`, `"base_delay": "200ms"`}},
		{name: "policy set stdin", args: []string{"policy", "set", "-"}, stdin: `{"select":{"strategy":"best"}}`, want: []string{`"strategy": "best"`, `"max_attempts": 6`}},
		{name: "policy set invalid", args: []string{"policy", "set", badPatch}, wantErr: "max_attempts"},
		{name: "policy set missing file", args: []string{"policy", "set", filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "policy set typo", args: []string{"policy", "set", "-"}, stdin: "breaker:\n  failure_treshold: 3\n", wantErr: `unknown field "failure_treshold" in breaker (valid: failure_threshold, `},
		{name: "policy set typo suggests", args: []string{"policy", "set", "-"}, stdin: "breaker:\n  failure_treshold: 3\n", wantErr: `); did you mean "failure_threshold"? (HTTP 400)`},
		{name: "policy set garbage", args: []string{"policy", "set", "-"}, stdin: "[: nope", wantErr: "neither JSON nor YAML"},
		{name: "pool list", args: []string{"pool", "list"}, want: []string{"UPSTREAM", "AUTH", a.plain, "eu", "bob:xxxxx  "}},
		{name: "pool add", args: []string{"pool", "add", "http://amy:hunter2@127.0.0.1:9", "region=ap", "tier=gold"}, want: []string{"http://127.0.0.1:9  ", "ap", "tier=gold", "amy:xxxxx  "}},
		{name: "pool add bad meta", args: []string{"pool", "add", "http://127.0.0.1:9", "region"}, wantErr: "want key=value"},
		{name: "pool add bad url", args: []string{"pool", "add", "ftp://amy:hunter2@x"}, wantErr: "not supported"},
		{name: "pool add no scheme", args: []string{"pool", "add", "amy:hunter2@127.0.0.1:9"}, wantErr: "amy:xxxxx@127.0.0.1:9 has no scheme: did you mean http://amy:xxxxx@127.0.0.1:9?"},
		{name: "pool add no url", args: []string{"pool", "add"}, wantErr: "usage: retrycoord pool add URL"},
		{name: "pool list after add", args: []string{"pool", "list", "--json"}, want: []string{`"upstream": "http://127.0.0.1:9"`}},
		{name: "pool rm", args: []string{"pool", "rm", "http://127.0.0.1:9"}, want: []string{"removed http://127.0.0.1:9"}},
		{name: "pool rm again", args: []string{"pool", "rm", "http://127.0.0.1:9"}, wantErr: "not in the pool (HTTP 404)"},
		{name: "health", args: []string{"health"}, want: []string{"ready"}},
		{name: "wrong token", args: []string{"trip", a.plain, "--token", "nope"}, wantErr: "Authorization: Bearer"},
		{name: "401 says how to give a token", args: []string{"trip", a.plain, "--token", "nope"}, wantErr: "(HTTP 401): pass --token or set RETRYCOORD_API_TOKEN"},
		{name: "no agent", args: []string{"breakers", "--addr", "127.0.0.1:1"}, wantErr: "no agent at http://127.0.0.1:1 (start one with `make run` or pass --addr)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := a.run(t, nil, tt.stdin, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%v: error = %v, want it to contain %q; output:\n%s", tt.args, err, tt.wantErr, out)
				}
			} else if err != nil {
				t.Fatalf("%v: %v; output:\n%s", tt.args, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
				}
			}
			for _, secret := range []string{adminSecret, "hunter2", adminTestToken} {
				if strings.Contains(out, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Errorf("%v: a secret leaked: %s %v", tt.args, out, err)
				}
			}
		})
	}
}

// TestAdminTableAligned checks that the breakers table's columns line up.
func TestAdminTableAligned(t *testing.T) {
	a := newAdminAgent(t, nil)
	out, err := a.run(t, nil, "", "breakers")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", out)
	}
	col := strings.Index(lines[0], "PHASE")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "closed") {
			t.Errorf("PHASE column not aligned at %d:\n%s", col, out)
		}
	}
}

// TestAdminHealthNotReady: an agent that answers but is not ready makes
// health exit 2 with the agent's reason on one line; no agent at all is
// exit 1.
func TestAdminHealthNotReady(t *testing.T) {
	a := newAdminAgent(t, func() api.Readiness {
		return api.Readiness{Degraded: true, Reason: "not ready: never joined\nany seed"}
	})
	out, err := a.run(t, nil, "", "health")
	if err == nil || err.Error() != "not ready: never joined any seed" || exitCode(err) != exitNotReady {
		t.Fatalf("health when not ready: error %q, exit %d, output %q; want exit 2 and the reason on one line", err, exitCode(err), out)
	}
	_, err = a.run(t, nil, "", "health", "--addr", "127.0.0.1:1", "--timeout", "2s")
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("health with no agent: %v, exit %d; want exit 1", err, exitCode(err))
	}
}

func TestAdminWatch(t *testing.T) {
	a := newAdminAgent(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		env := map[string]string{adminEnvAddr: a.srv.URL}
		root := &cobra.Command{Use: "retrycoord", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(newAdminCommandsWith(func(o *adminOptions) { o.getenv = func(k string) string { return env[k] } })...)
		root.SetOut(&out)
		root.SetArgs([]string{"watch"})
		done <- root.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "reason=\"watched\"") {
		if time.Now().After(deadline) {
			t.Fatalf("no transition on watch; output:\n%s", out.String())
		}
		a.c.Table().Trip(a.plain, time.Minute, "watched")
		time.Sleep(20 * time.Millisecond) // poll interval, not a wait for a condition
	}
	line := out.String()
	for _, w := range []string{"breaker", a.plain, "-> open", "source=manual", "origin=local"} {
		if !strings.Contains(line, w) {
			t.Errorf("watch line lacks %q: %s", w, line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch after cancel: %v", err)
	}
}

func TestAdminCommandSet(t *testing.T) {
	var names []string
	for _, cmd := range newAdminCommands() {
		names = append(names, cmd.Name())
		for _, f := range []string{"addr", "token", "json", "timeout"} {
			if cmd.PersistentFlags().Lookup(f) == nil {
				t.Errorf("%s has no --%s", cmd.Name(), f)
			}
		}
	}
	want := "members breakers trip reset policy pool watch health keys"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("commands = %q, want %q", got, want)
	}
}

// TestAdminAddrPrecedence: --addr over RETRYCOORD_ADDR over the default;
// likewise for the token.
func TestAdminAddrPrecedence(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"default", "", "", adminDefaultAddr},
		{"env", "", "http://127.0.0.3:1", "http://127.0.0.3:1"},
		{"flag over env", "127.0.0.2:7947", "http://127.0.0.3:1", "http://127.0.0.2:7947"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotURL, gotAuth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotURL, gotAuth = r.Host, r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`[]`))
			}))
			defer srv.Close()
			o := &adminOptions{addr: tt.flag, token: "", getenv: func(k string) string {
				switch k {
				case adminEnvAddr:
					return tt.env
				case adminEnvToken:
					return "env-token"
				}
				return ""
			}}
			// Route every request to srv while keeping the Host asked for.
			o.httpClient = &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(srv.URL) }}}
			if _, err := o.client(false).Members(context.Background()); err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimPrefix(tt.want, "http://"); gotURL != want {
				t.Errorf("host = %q, want %q", gotURL, want)
			}
			if gotAuth != "Bearer env-token" {
				t.Errorf("Authorization = %q", gotAuth)
			}
		})
	}
}
