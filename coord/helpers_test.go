package coord

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// fastRetry is a retry policy with the smallest waits allowed.
func fastRetry() policy.RetryPolicy {
	return policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, Backoff: policy.BackoffFixed}
}

// fakeClock is a settable wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// setup builds a coordinator over farm's proxies and a client through its
// Transport; both are closed by t.Cleanup.
func setup(t testing.TB, farm *testproxy.Farm, cfg Config) (*Coordinator, *http.Client) {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool = Entries(farm.URLs()...)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	rt := c.Transport(base)
	t.Cleanup(func() {
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		_ = c.Close()
	})
	return c, &http.Client{Transport: rt}
}

// run starts c.Run until the test ends.
func run(t testing.TB, c *Coordinator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testutil.Eventually(t, 5*time.Second, "Run to subscribe", func() bool {
		c.runMu.Lock()
		defer c.runMu.Unlock()
		return c.running
	})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// get sends a GET and returns the response with its body read and closed.
func get(t testing.TB, cl *http.Client, ctx context.Context, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b), nil
}

// keyOf returns the upstream key of a proxy.
func keyOf(p *testproxy.Proxy) string { return "http://" + p.Addr() }

// recorded returns the recorded attempts of one request, in order.
func recorded(c *Coordinator, id uint64) []Attempt {
	var out []Attempt
	for _, a := range c.Recorder().Attempts(0) {
		if a.RequestID == id {
			out = append(out, a)
		}
	}
	return out
}

// lastRequest returns the id of the most recent request recorded.
func lastRequest(c *Coordinator) uint64 {
	as := c.Recorder().Attempts(1)
	if len(as) == 0 {
		return 0
	}
	return as[0].RequestID
}

// fakeTable returns a table on a fake clock.
func fakeTable(t testing.TB) (*state.Table, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	tb, err := state.NewTable(state.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tb, clk
}
