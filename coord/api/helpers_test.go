package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

const testToken = "t0ken-s3cret"

// secretPW is the password of the fixture's third upstream; it must never
// appear in an answer other than select's.
const secretPW = "pw-very-secret"

type fixture struct {
	c    *coord.Coordinator
	h    *Handler
	srv  *httptest.Server
	farm *testproxy.Farm
	cl   *Client // with the token
	keys []string
	cred string // key of the upstream with credentials
}

// newFixture serves a Handler over a running coordinator whose pool is
// three test proxies, the third with credentials. cfg.Coordinator is set
// here; Token defaults to testToken unless cfg.Dev.
func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	return newFixtureWith(t, cfg, coord.Config{})
}

// newFixtureWith is newFixture with a coordinator configuration (its Pool
// is replaced).
func newFixtureWith(t testing.TB, cfg Config, ccfg coord.Config) *fixture {
	t.Helper()
	farm := testproxy.Start(t, 3)
	urls := farm.URLs()
	urls[2] = "http://user:" + secretPW + "@" + farm.Proxies[2].Addr()
	ccfg.Pool = []coord.PoolEntry{
		{URL: urls[0], Meta: map[string]string{"region": "eu"}},
		{URL: urls[1], Meta: map[string]string{"region": "us"}},
		{URL: urls[2]},
	}
	c, err := coord.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = c.Close()
		<-done
	})
	cfg.Coordinator = c
	if cfg.Token == "" && !cfg.Dev {
		cfg.Token = testToken
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.heartbeat = 50 * time.Millisecond
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = h.Close() }) // before srv.Close: it waits for streams
	f := &fixture{c: c, h: h, srv: srv, farm: farm, cl: NewClient(srv.URL, cfg.Token, srv.Client())}
	f.cred = "http://" + farm.Proxies[2].Addr()
	for _, u := range c.Upstreams() {
		f.keys = append(f.keys, u.Key())
	}
	return f
}

// call sends a raw request and returns the status and body.
func (f *fixture) call(t testing.TB, method, path, body, token string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
