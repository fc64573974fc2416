package coord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// spentBudget is a budget with nothing to give: the ratio of one first
// attempt and a floor below one retry.
var spentBudget = policy.RetryBudget{Ratio: 0.01, MinPerSecond: 0.1, Window: time.Second}

func newBudgetCoord(t *testing.T, rp policy.RetryPolicy, n int) *Coordinator {
	t.Helper()
	var urls []string
	for i := range n {
		urls = append(urls, "http://10.0.0."+string(rune('1'+i))+":8080")
	}
	c, err := New(Config{Pool: Entries(urls...), Document: policy.Document{Retry: rp}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func status(code int) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("answer"))}
}

// TestBudgetSpentReturnsLastAnswer: with the budget spent, a failed
// attempt is not retried and its answer is the caller's; a failover after
// a proxy-level fault is not charged.
func TestBudgetSpentReturnsLastAnswer(t *testing.T) {
	rp := fastRetry()
	rp.Budget = spentBudget
	c := newBudgetCoord(t, rp, 3)
	var calls atomic.Int32
	fn := func(ctx context.Context, u *Upstream) (*http.Response, error) {
		switch calls.Add(1) {
		case 1:
			return nil, &ConnectError{Proxy: u.Key(), StatusCode: 502} // the proxy's fault: free
		case 2:
			return status(503), nil
		}
		return status(200), nil
	}
	res, err := c.Do(WithSite(context.Background(), "example.com"), fn)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer res.Response.Body.Close()
	if res.Response.StatusCode != 503 || !res.BudgetExhausted || res.Attempts != 2 {
		t.Errorf("got status %d, exhausted %v after %d attempts; want the 503 answer, exhausted, after 2 (the proxy fault's failover is free)",
			res.Response.StatusCode, res.BudgetExhausted, res.Attempts)
	}
	if got := c.BudgetStats().Exhausted; got != 1 {
		t.Errorf("Exhausted = %d, want 1", got)
	}

	rp.Budget.Off = true
	c = newBudgetCoord(t, rp, 3)
	calls.Store(0)
	res, err = c.Do(WithSite(context.Background(), "example.com"), fn)
	if err != nil || res.Response.StatusCode != 200 || res.Attempts != 3 {
		t.Errorf("budget off: %v, %d attempts; want 200 after 3", err, res.Attempts)
	}
	if res.Response != nil {
		res.Response.Body.Close()
	}
}

// TestBudgetHeaderAtTheTransport: through real proxies, the last answer
// carries X-Retrycoord-Budget: exhausted.
func TestBudgetHeaderAtTheTransport(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	origin.ScriptStatus(503, 503, 503)
	rp := fastRetry()
	rp.Budget = spentBudget
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	resp, _, err := get(t, cl, context.Background(), origin.Server().URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get(HeaderBudget) != "exhausted" || resp.Header.Get(HeaderAttempts) != "1" {
		t.Errorf("status %d, %s %q, attempts %q; want 503, exhausted, 1", resp.StatusCode, HeaderBudget,
			resp.Header.Get(HeaderBudget), resp.Header.Get(HeaderAttempts))
	}
}

// hedgeFn answers through every upstream but the first it is called for,
// which waits for its context (or release) and reports how it ended.
type hedgeFn struct {
	mu      sync.Mutex
	first   string
	calls   []string
	release chan struct{}
	ended   chan error
}

func newHedgeFn() *hedgeFn {
	return &hedgeFn{release: make(chan struct{}), ended: make(chan error, 1)}
}

func (h *hedgeFn) call(ctx context.Context, u *Upstream) (*http.Response, error) {
	h.mu.Lock()
	h.calls = append(h.calls, u.Key())
	first := h.first == ""
	if first {
		h.first = u.Key()
	}
	h.mu.Unlock()
	if !first {
		return status(200), nil
	}
	select {
	case <-ctx.Done():
		h.ended <- ctx.Err()
		return nil, ctx.Err()
	case <-h.release:
		h.ended <- nil
		return status(200), nil
	}
}

func (h *hedgeFn) called() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func hedging() policy.RetryPolicy {
	rp := fastRetry()
	rp.Hedge = policy.Hedge{On: true, Delay: time.Millisecond}
	return rp
}

// TestHedgeLoserCancelledNotFailed: the hedge answers, the attempt it
// hedged is cancelled and settled as abandoned: no failure on its proxy.
func TestHedgeLoserCancelledNotFailed(t *testing.T) {
	c := newBudgetCoord(t, hedging(), 2)
	h := newHedgeFn()
	res, err := c.Do(WithSite(context.Background(), "example.com"), h.call)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	res.Response.Body.Close()
	if err := <-h.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the loser ended with %v, want its context cancelled", err)
	}
	calls := h.called()
	if len(calls) != 2 || calls[0] == calls[1] || res.Upstream.Key() != calls[1] || res.Hedged != 1 {
		t.Fatalf("calls %v, answered by %s, hedged %d; want two proxies, the second answering", calls, res.Upstream.Key(), res.Hedged)
	}
	testutil.Eventually(t, 5*time.Second, "the loser recorded", func() bool { return len(recorded(c, res.RequestID)) == 2 })
	for _, a := range recorded(c, res.RequestID) {
		if a.Upstream == calls[0] && (a.Class != ClassAbandoned || a.Reason != ReasonHedgeLost) {
			t.Errorf("the loser was recorded %v/%v, want abandoned/hedge_lost", a.Class, a.Reason)
		}
	}
	if st := c.Table().Stats(); st.Pairs != 0 {
		t.Errorf("%d pairs hold failures, want none: the loser is no failure", st.Pairs)
	}
	if s := c.Upstream(calls[0]).Stats(); s.Outcomes != 0 {
		t.Errorf("the loser's proxy counts %d outcomes, want none", s.Outcomes)
	}
	if st := c.Table().StateAt(state.PairKey(calls[0], "example.com")); st != state.PhaseClosed {
		t.Errorf("the loser's pair is %v", st)
	}
	if st := c.BudgetStats(); st.HedgesSent != 1 || st.HedgesWon != 1 {
		t.Errorf("hedges sent %d won %d, want 1 and 1", st.HedgesSent, st.HedgesWon)
	}
}

// TestHedgeNeverSameProxy: with one proxy, a late attempt is not hedged
// through it again.
func TestHedgeNeverSameProxy(t *testing.T) {
	c := newBudgetCoord(t, hedging(), 1)
	h := newHedgeFn()
	done := doInBackground(WithSite(context.Background(), "example.com"), c, h.call)
	testutil.Eventually(t, 5*time.Second, "the hedge decided", func() bool { return c.BudgetStats().HedgesNoProxy == 1 })
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls := h.called(); len(calls) != 1 {
		t.Errorf("calls %v, want one: no hedge through the same proxy", calls)
	}
}

// TestHedgeOffWhenBudgetSpent: a hedge is charged to the budget; spent,
// none is sent.
func TestHedgeOffWhenBudgetSpent(t *testing.T) {
	rp := hedging()
	rp.Budget = spentBudget
	c := newBudgetCoord(t, rp, 2)
	h := newHedgeFn()
	done := doInBackground(WithSite(context.Background(), "example.com"), c, h.call)
	testutil.Eventually(t, 5*time.Second, "the hedge refused", func() bool { return c.BudgetStats().HedgesRefused == 1 })
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls := h.called(); len(calls) != 1 {
		t.Errorf("calls %v, want one: the budget was spent", calls)
	}
	if st := c.BudgetStats(); st.HedgesSent != 0 {
		t.Errorf("HedgesSent = %d, want 0", st.HedgesSent)
	}
}

// TestHedgeNeverNonIdempotent: a POST, even one the policy may retry, is
// not hedged, while a GET in the same setting is.
func TestHedgeNeverNonIdempotent(t *testing.T) {
	rp := hedging()
	rp.RetryNonIdempotent = true
	c := newBudgetCoord(t, rp, 2)
	post := newHedgeFn()
	done := doInBackground(WithMethod(WithSite(context.Background(), "example.com"), http.MethodPost), c, post.call)
	testutil.Eventually(t, 5*time.Second, "the POST sent", func() bool { return len(post.called()) == 1 })
	// A GET started after the POST is hedged after the same delay.
	getFn := newHedgeFn()
	res, err := c.Do(WithSite(context.Background(), "example.com"), getFn.call)
	if err != nil {
		t.Fatal(err)
	}
	res.Response.Body.Close()
	<-getFn.ended
	close(post.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls := post.called(); len(calls) != 1 {
		t.Errorf("POST calls %v, want one: never hedged", calls)
	}
	if st := c.BudgetStats(); st.HedgesSent != 1 {
		t.Errorf("HedgesSent = %d, want 1 (the GET's)", st.HedgesSent)
	}
}

// TestHedgeWaitsForTheSiteLatency: without a fixed delay, no hedge is sent
// until the site's latency is known.
func TestHedgeTimedBySiteLatency(t *testing.T) {
	rp := fastRetry()
	rp.Hedge = policy.Hedge{On: true}
	c := newBudgetCoord(t, rp, 2)
	now := time.Now()
	for range 100 {
		c.Table().AddLatency("example.com", 2*time.Millisecond, now)
	}
	h := newHedgeFn()
	res, err := c.Do(WithSite(context.Background(), "example.com"), h.call)
	if err != nil {
		t.Fatal(err)
	}
	res.Response.Body.Close()
	<-h.ended
	if res.Hedged != 1 {
		t.Errorf("Hedged = %d after the site's p95 of 2ms, want 1", res.Hedged)
	}
}

// TestHedgeThroughRealProxies: through Transport and two real proxies, an
// origin that stalls the first request is answered by the hedge through
// the other proxy; the stalled request is cancelled.
func TestHedgeThroughRealProxies(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	var n atomic.Int32
	stalled := make(chan error, 1)
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // the loser, cancelled through its proxy
			stalled <- r.Context().Err()
			return
		}
		_, _ = w.Write([]byte("hedged"))
	}))
	rp := fastRetry()
	rp.Hedge = policy.Hedge{On: true, Delay: 20 * time.Millisecond}
	rp.AttemptTimeout = 2 * time.Second // bounds the stall should hedging fail
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	resp, body, err := get(t, cl, context.Background(), origin.Server().URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != "hedged" {
		t.Fatalf("status %d body %q, want the hedge's 200", resp.StatusCode, body)
	}
	if err := <-stalled; err == nil {
		t.Error("the stalled request was not cancelled")
	}
	if st := c.BudgetStats(); st.HedgesSent != 1 || st.HedgesWon != 1 {
		t.Errorf("hedges sent %d won %d, want 1 and 1", st.HedgesSent, st.HedgesWon)
	}
	for i, p := range farm.Proxies {
		if got := p.Requests(); got != 1 {
			t.Errorf("proxy %d saw %d requests, want 1: the hedge goes through the other", i, got)
		}
	}
}

// doInBackground runs c.Do(ctx, fn) in a goroutine, closes the answer's
// body, and sends its error on the returned channel.
func doInBackground(ctx context.Context, c *Coordinator, fn RequestFunc) <-chan error {
	done := make(chan error, 1)
	go func() {
		res, err := c.Do(ctx, fn)
		if err == nil {
			res.Response.Body.Close()
		}
		done <- err
	}()
	return done
}
