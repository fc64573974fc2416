package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
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

	"github.com/lmittmann/tint"
	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/redistest"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state/redisledger"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

const (
	secretProxyUser = "puser"
	secretProxyPW   = "Pa55w0rd-proxy"
)

// secretKeyB is the gossip key the test rotates to.
var secretKeyB = base64.StdEncoding.EncodeToString([]byte("rotated-key-0123"))

// teeHandler sends every record to each of its handlers.
type teeHandler []slog.Handler

func (t teeHandler) Enabled(context.Context, slog.Level) bool { return true }

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range t {
		errs = append(errs, h.Handle(ctx, r.Clone()))
	}
	return errors.Join(errs...)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}

// captureLogger logs everything at Debug, as JSON and as tint text.
func captureLogger(jsonOut, textOut io.Writer) *slog.Logger {
	return slog.New(teeHandler{
		slog.NewJSONHandler(jsonOut, &slog.HandlerOptions{Level: slog.LevelDebug}),
		tint.NewTextHandler(textOut, &tint.Options{Level: slog.LevelDebug, NoColor: true}),
	})
}

// secretChecker collects everything a user could see and looks for the
// secrets in it.
type secretChecker struct {
	secrets map[string]string // name → secret
	seen    []string          // "where: text"
}

func (c *secretChecker) add(where, text string) { c.seen = append(c.seen, where+": "+text) }

func (c *secretChecker) check(t *testing.T) {
	t.Helper()
	for _, s := range c.seen {
		for name, secret := range c.secrets {
			if i := strings.Index(s, secret); i >= 0 {
				where, _, _ := strings.Cut(s, ": ")
				lo, hi := max(0, i-120), min(len(s), i+len(secret)+40)
				t.Errorf("%s leaks the %s: …%s…", where, name, s[lo:hi])
			}
		}
	}
}

// TestNoSecretsLeak runs two agents with passwords in their proxy URLs, an
// API token, a gossip key and a Redis password, drives traffic and every
// route and admin command, rotates the gossip key through the CLI, and
// finds none of the secrets in any log line (JSON and text, Debug level),
// API answer (but select's, by design, behind the token) or CLI output.
func TestNoSecretsLeak(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
			goleak.IgnoreCurrent())
	})
	redis.SetLogger(redisledger.RedisLogger{})
	rawKey, _ := base64.StdEncoding.DecodeString(testKey)
	rawKeyB, _ := base64.StdEncoding.DecodeString(secretKeyB)
	chk := &secretChecker{secrets: map[string]string{
		"proxy password":              secretProxyPW,
		"proxy basic credentials":     base64.StdEncoding.EncodeToString([]byte(secretProxyUser + ":" + secretProxyPW)),
		"API token":                   testToken,
		"gossip key":                  testKey,
		"gossip key (raw)":            string(rawKey),
		"gossip key (hex)":            hex.EncodeToString(rawKey),
		"rotated gossip key":          secretKeyB,
		"rotated gossip key (raw)":    string(rawKeyB),
		"rotated gossip key (hex)":    hex.EncodeToString(rawKeyB),
		"redis password":              redisTestPassword,
		"redis password (URL-quoted)": url.QueryEscape(redisTestPassword),
	}}

	rsrv := redistest.StartWithPassword(t, redisTestPassword)
	farm := testproxy.Start(t, 3)
	for _, p := range farm.Proxies {
		p.RequireAuth(secretProxyUser, secretProxyPW)
	}
	farm.Proxies[0].Set(testproxy.Status(502)) // failing
	farm.Proxies[1].Set(testproxy.Refuse())    // failing: connection refused
	origin := testproxy.NewOrigin(t)
	poolFile := filepath.Join(t.TempDir(), "pool.txt")
	var pool strings.Builder
	for _, p := range farm.Proxies {
		fmt.Fprintf(&pool, "http://%s:%s@%s region=local\n", secretProxyUser, secretProxyPW, p.Addr())
	}
	if err := os.WriteFile(poolFile, []byte(pool.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs1, logs2, text1, text2 testutil.SyncBuffer
	s1 := testAgentSettings(t, "node-1", poolFile)
	s1.redisURL = "redis://:" + redisTestPassword + "@" + rsrv.Addr()
	a1, err := startAgent(context.Background(), s1, captureLogger(&logs1, &text1))
	if err != nil {
		t.Fatal(err)
	}
	s2 := testAgentSettings(t, "node-2", poolFile, a1.node.Addr())
	s2.redisURL = "redis://:not-" + redisTestPassword + "@" + rsrv.Addr() // wrong: degraded
	s2.readyTimeout = 2 * time.Second
	a2, err := startAgent(context.Background(), s2, captureLogger(&logs2, &text2))
	if err != nil {
		_ = a1.Shutdown(context.Background())
		t.Fatal(err)
	}
	agents := []*agent{a1, a2}
	shutdown := func() {
		for _, a := range agents {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := a.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			cancel()
		}
	}
	t.Cleanup(shutdown)

	ctx := context.Background()
	base1 := "http://" + a1.apiAddr
	cl := api.NewClient(base1, testToken, nil)
	testutil.Eventually(t, 15*time.Second, "two ready members", func() bool {
		for _, a := range agents {
			c := api.NewClient("http://"+a.apiAddr, "", nil)
			if r, err := c.Ready(ctx); err != nil || !r.Ready {
				return false
			}
			if ms, err := c.Members(ctx); err != nil || len(ms) != 2 {
				return false
			}
		}
		return true
	})

	// Traffic through the forward proxy: failing and working proxies.
	pu, _ := url.Parse("http://" + a1.fwdAddr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for i := range 12 {
		resp, err := hc.Get(fmt.Sprintf("%s/page-%d", origin.Server().URL, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		chk.add("forward proxy answer", fmt.Sprint(resp.Header)+string(b))
	}
	if farm.Proxies[0].Requests() == 0 || farm.Proxies[2].Requests() == 0 {
		t.Fatalf("requests: failing proxy %d, working proxy %d; want both used", farm.Proxies[0].Requests(), farm.Proxies[2].Requests())
	}
	// A proxy that refuses our credentials (407) is a failure too.
	farm.Proxies[2].RequireAuth(secretProxyUser, "other")
	if resp, err := hc.Get(origin.Server().URL + "/after-407"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		chk.add("forward proxy answer", fmt.Sprint(resp.Header)+string(b))
	}
	farm.Proxies[2].RequireAuth(secretProxyUser, secretProxyPW)

	// Trip and reset through the API.
	up := "http://" + farm.Proxies[2].Addr()
	if _, err := cl.Trip(ctx, up, time.Minute, "secrets test"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Reset(ctx, up); err != nil {
		t.Fatal(err)
	}

	// Select needs the token, and by design answers the credentials.
	var apiErr *api.Error
	if _, err := api.NewClient(base1, "", nil).Select(ctx, ""); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("select without the token: %v, want 401", err)
	}
	if _, err := api.NewClient(base1, "wrong-token", nil).Select(ctx, ""); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("select with a wrong token: %v, want 401", err)
	}
	if sel, err := cl.Select(ctx, ""); err != nil || !strings.Contains(sel.ProxyURL, secretProxyPW) {
		t.Fatalf("select with the token: %+v, %v; want the proxy URL with its password", sel, err)
	}

	// Every read route, raw, from both agents.
	for _, a := range agents {
		for _, path := range []string{
			"/v1/health", "/v1/ready", "/v1/members", "/v1/breakers", "/v1/breakers/" + url.PathEscape(up),
			"/v1/policy", "/v1/policy?effective=true", "/v1/pool", "/v1/metrics/summary",
			"/v1/metrics/timeseries", "/v1/metrics/proxies", "/v1/metrics/events", "/metrics", "/v1/keys",
			"/v1/nowhere",
		} {
			chk.add("GET "+path, rawGet(t, "http://"+a.apiAddr+path, testToken, 0))
		}
		chk.add("GET /v1/events", rawGet(t, "http://"+a.apiAddr+"/v1/events", "", 300*time.Millisecond))
	}
	// Bad writes answer errors that must not echo the secrets either.
	for _, body := range []string{
		`{"url":"http://` + secretProxyUser + `:` + secretProxyPW + `@bad host:1"}`,
		`{"url":"ftp://` + secretProxyUser + `:` + secretProxyPW + `@127.0.0.1:1"}`,
	} {
		chk.add("POST /v1/pool (bad)", rawDo(t, "POST", base1+"/v1/pool", testToken, body))
	}
	chk.add("POST /v1/keys (bad)", rawDo(t, "POST", base1+"/v1/keys", testToken, `{"key":"`+testKey+`x"}`))
	chk.add("DELETE /v1/keys (primary)", rawDo(t, "DELETE", base1+"/v1/keys", testToken, `{"key":"`+testKey+`"}`))

	// The admin subcommands, with --json and as tables, and the key rotation.
	addrs := "http://" + a1.apiAddr + ",http://" + a2.apiAddr
	cli := func(stdin string, args ...string) (string, error) {
		out, err := runCLI(t, stdin, args...)
		label := "retrycoord " + strings.ReplaceAll(strings.Join(args, " "), testToken, "TOKEN")
		chk.add(label, out)
		if err != nil {
			chk.add(label+" error", err.Error())
		}
		return out, err
	}
	common := []string{"--addr", base1, "--token", testToken}
	for _, args := range [][]string{
		{"members"}, {"breakers"}, {"pool"}, {"policy"}, {"health"}, {"keys", "list"},
		{"trip", up, "--for", "1m"}, {"reset", up},
	} {
		for _, asJSON := range []bool{true, false} {
			a := append(append([]string{}, args...), common...)
			if asJSON {
				a = append(a, "--json")
			}
			if _, err := cli("", a...); err != nil {
				t.Errorf("retrycoord %v: %v", a, err)
			}
		}
	}
	watchCtx, cancelWatch := context.WithTimeout(ctx, 300*time.Millisecond)
	out, _ := runCLIContext(t, watchCtx, "", append([]string{"watch", "--json"}, common...)...)
	cancelWatch()
	chk.add("retrycoord watch", out)
	if _, err := cli("", "trip", up, "--addr", base1, "--token", "wrong-"+testToken); err == nil {
		t.Error("trip with a wrong token worked")
	}
	if _, err := cli("not base64 "+secretKeyB+"\n", "keys", "install", "-", "--addr", base1, "--token", testToken); err == nil {
		t.Error("installing a bad key worked")
	}
	for _, step := range []struct{ sub, key string }{{"install", secretKeyB}, {"use", secretKeyB}, {"remove", testKey}} {
		if _, err := cli(step.key+"\n", "keys", step.sub, "-", "--addr", addrs, "--token", testToken, "--json"); err != nil {
			t.Fatalf("keys %s: %v", step.sub, err)
		}
	}
	out, err = cli("", "keys", "list", "--addr", addrs, "--token", testToken)
	if err != nil {
		t.Fatal(err)
	}
	fpB := mustFingerprint(t, secretKeyB)
	if strings.Count(out, fpB) != 2 || strings.Count(out, "yes") != 2 {
		t.Errorf("keys list after the rotation:\n%s\nwant %s primary on both agents", out, fpB)
	}
	// The rotated fleet still talks: a trip on node 1 reaches node 2.
	if _, err := cl.Trip(ctx, up, time.Minute, "after rotation"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "the trip reaches node 2 after the rotation", func() bool {
		b, err := api.NewClient("http://"+a2.apiAddr, "", nil).Breaker(ctx, up)
		return err == nil && b.Phase == "open"
	})

	shutdown()
	for name, b := range map[string]*testutil.SyncBuffer{"node-1 JSON log": &logs1, "node-2 JSON log": &logs2, "node-1 text log": &text1, "node-2 text log": &text2} {
		s := b.String()
		if s == "" {
			t.Errorf("%s is empty", name)
		}
		for line := range strings.Lines(s) {
			chk.add(name, line)
		}
	}
	if !strings.Contains(logs1.String(), `"level":"DEBUG"`) || !strings.Contains(logs2.String(), "ledger snapshot failed") {
		t.Error("the logs lack Debug lines or node 2's ledger failure: the capture is not complete")
	}
	chk.check(t)
}

func mustFingerprint(t *testing.T, key string) string {
	t.Helper()
	k, err := cluster.Fingerprint(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rawGet reads a URL with an optional token; a positive limit ends the
// request after that long (an event stream).
func rawGet(t *testing.T, u, token string, limit time.Duration) string {
	t.Helper()
	ctx := context.Background()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a stream ends with the context's error
	return fmt.Sprint(resp.Header) + string(b)
}

func rawDo(t *testing.T, method, u, token, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.Header) + string(b)
}

// runCLI runs a retrycoord command line (the real root command) with stdin
// and returns its output and error.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return runCLIContext(t, context.Background(), stdin, args...)
}

func runCLIContext(t *testing.T, ctx context.Context, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}
