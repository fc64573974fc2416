package coord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/sethvargo/go-retry"
)

// The executor's rules (Do), each with a test that fails when the rule is
// broken: found by mutation testing (make mutate MUTATE_FILES=do.go).

// TestOpenSiteIsTheAnswerWithNoUpstreamEither: a request for an open site
// fails with the site's error even when no proxy is eligible either: the
// site is the cause the caller must see (503 with the site's reason at the
// agent), not an empty pool.
func TestOpenSiteIsTheAnswerWithNoUpstreamEither(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1")})
	if err != nil {
		t.Fatal(err)
	}
	c.Table().TripAt(state.SiteKey("vendor-x"), time.Minute, "operator")
	for _, u := range c.Upstreams() {
		c.Table().Trip(u.Key(), time.Minute, "test")
	}
	_, err = c.Do(WithSite(context.Background(), "vendor-x"), func(context.Context, *Upstream) (*http.Response, error) {
		t.Fatal("an attempt was made")
		return nil, nil
	})
	var se *SiteError
	if !errors.As(err, &se) || se.Site != "vendor-x" || se.Reason != "operator" {
		t.Errorf("Do: %v, want the *SiteError of vendor-x, reason operator", err)
	}
}

// ctxBody is a body that reads from s while ctx lives, as a body read off
// a connection does: once ctx ends, a read fails.
type ctxBody struct {
	ctx context.Context
	r   io.Reader
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b *ctxBody) Close() error { return nil }

// TestAnswerOutlivesTheTimeout: with a Timeout or an AttemptTimeout, the
// answer's body is read after Do returns, under the context the attempt
// was made with: Do must not end that context on return, only when the
// caller closes the body, and closing it must end it (no timer left
// running).
func TestAnswerOutlivesTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name             string
		timeout, attempt time.Duration
	}{
		{"Timeout", time.Minute, 0},
		{"AttemptTimeout", 0, time.Minute},
		{"both", time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp := fastRetry()
			rp.Timeout, rp.AttemptTimeout = tc.timeout, tc.attempt
			c, err := New(Config{Pool: Entries("http://10.0.0.1:1"), Document: policy.Document{Retry: rp}})
			if err != nil {
				t.Fatal(err)
			}
			var actx context.Context
			res, err := c.Do(context.Background(), func(ctx context.Context, _ *Upstream) (*http.Response, error) {
				actx = ctx
				return &http.Response{StatusCode: 200, Body: &ctxBody{ctx: ctx, r: strings.NewReader("the answer")}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Response.Body)
			if err != nil || string(b) != "the answer" {
				t.Fatalf("body read after Do returned: %q, %v; want the answer", b, err)
			}
			if err := actx.Err(); err != nil {
				t.Fatalf("the attempt's context ended before the body was closed: %v", err)
			}
			_ = res.Response.Body.Close()
			if actx.Err() == nil {
				t.Error("the attempt's context lives on after the body was closed")
			}
		})
	}
}

// TestBudgetAnswerOutlivesTheAttemptTimeout: the failing answer returned
// because the site's budget refused a retry is the caller's to read, like a
// success: an AttemptTimeout's context ends when its body is closed, not
// before.
func TestBudgetAnswerOutlivesTheAttemptTimeout(t *testing.T) {
	rp := fastRetry()
	rp.AttemptTimeout, rp.Budget = time.Minute, spentBudget
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: rp}})
	if err != nil {
		t.Fatal(err)
	}
	var actx context.Context
	res, err := c.Do(WithSite(context.Background(), "example.com"), func(ctx context.Context, _ *Upstream) (*http.Response, error) {
		actx = ctx
		return &http.Response{StatusCode: 503, Header: http.Header{}, Body: &ctxBody{ctx: ctx, r: strings.NewReader("busy")}}, nil
	})
	if err != nil || !res.BudgetExhausted {
		t.Fatalf("Do: %v, exhausted %v; want the 503 answer, exhausted", err, res.BudgetExhausted)
	}
	b, err := io.ReadAll(res.Response.Body)
	if err != nil || string(b) != "busy" {
		t.Fatalf("body of the 503: %q, %v; want busy", b, err)
	}
	_ = res.Response.Body.Close()
	if actx.Err() == nil {
		t.Error("the attempt's context lives on after the body was closed")
	}
}

// TestFirstAttemptsEarnRetries: a site's retry budget grows with its first
// attempts (Ratio of them), counted once per request: two answered
// requests earn the third its retry under a ratio of 0.5, where a failing
// request alone (half a retry) gets none. The clock stands still, so every
// count falls in one second of the window.
func TestFirstAttemptsEarnRetries(t *testing.T) {
	clk := newFakeClock()
	rp := fastRetry()
	rp.Budget = policy.RetryBudget{Ratio: 0.5, MinPerSecond: 0.1, Window: time.Second} // a floor below one retry
	ctx := WithSite(context.Background(), "example.com")
	answers := func(codes ...int) RequestFunc {
		return func(context.Context, *Upstream) (*http.Response, error) {
			code := codes[0]
			codes = codes[1:]
			return status(code), nil
		}
	}
	do := func(c *Coordinator, fn RequestFunc) Result {
		t.Helper()
		res, err := c.Do(ctx, fn)
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		res.Response.Body.Close()
		return res
	}
	newC := func() *Coordinator {
		c, err := New(Config{Now: clk.Now, Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: rp}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	c := newC()
	if res := do(c, answers(503, 200)); !res.BudgetExhausted || res.Attempts != 1 {
		t.Errorf("alone: %d attempts, exhausted %v; want 1, exhausted (0.5 × 1 first attempt is no retry)", res.Attempts, res.BudgetExhausted)
	}

	c = newC()
	do(c, answers(200))
	do(c, answers(200))
	if res := do(c, answers(503, 200)); res.BudgetExhausted || res.Attempts != 2 || res.Response.StatusCode != 200 {
		t.Errorf("after two requests: %d attempts, exhausted %v, status %d; want 200 after 2 (0.5 × 3 first attempts)",
			res.Attempts, res.BudgetExhausted, res.Response.StatusCode)
	}
}

// TestAbandonedAttemptIsAnError: an attempt abandoned by the function
// itself (its own cancellation) while the caller's context lives is an
// error for the caller, never a nil error without an answer; when the
// caller's context ended, Do returns that context's error as is, not the
// attempt's error that wraps it.
func TestAbandonedAttemptIsAnError(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) {
		return nil, fmt.Errorf("the function's own: %w", context.Canceled)
	})
	if !errors.Is(err, context.Canceled) || res.Response != nil || res.Attempts != 1 {
		t.Errorf("own cancellation: %v, answer %v after %d attempts; want context.Canceled after 1", err, res.Response, res.Attempts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.Do(ctx, func(context.Context, *Upstream) (*http.Response, error) {
		cancel()
		return nil, fmt.Errorf("dial: %w", io.ErrUnexpectedEOF)
	})
	if err != context.Canceled {
		t.Errorf("caller cancelled: %v, want the context's error as is", err)
	}
}

// TestTenAttempts: MaxAttempts 10, the most the policy allows, makes ten
// attempts, each through an upstream the request had not tried.
func TestTenAttempts(t *testing.T) {
	var urls []string
	for i := range 10 {
		urls = append(urls, fmt.Sprintf("http://10.0.0.%d:1", i+1))
	}
	c, err := New(Config{Pool: Entries(urls...), Document: policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 10}},
		Backoff: func(policy.RetryPolicy) retry.Backoff { return retry.NewConstant(time.Microsecond) }})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	res, err := c.Do(context.Background(), func(_ context.Context, u *Upstream) (*http.Response, error) {
		seen[u.Key()] = true
		return status(503), nil
	})
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 10 || res.Attempts != 10 || len(seen) != 10 {
		t.Errorf("%v after %d attempts through %d upstreams, want GiveUpError after 10 through 10", err, res.Attempts, len(seen))
	}
}

// TestSiteOpeningMidRequest: a site that opens while a request waits for
// its retry ends the request with the site's error at the retry, with no
// further attempt.
func TestSiteOpeningMidRequest(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: fastRetry()}})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	res, err := c.Do(WithSite(context.Background(), "example.com"), func(context.Context, *Upstream) (*http.Response, error) {
		calls++
		c.Table().TripAt(state.SiteKey("example.com"), time.Minute, "operator")
		return status(503), nil
	})
	var se *SiteError
	if !errors.As(err, &se) || se.Site != "example.com" || calls != 1 || res.Attempts != 1 {
		t.Errorf("%v after %d calls (%d attempts), want the site's *SiteError after 1", err, calls, res.Attempts)
	}
}

// TestPanicReachesTheCaller: a RequestFunc's panic reaches the caller
// with its own value, and the attempt is recorded as abandoned by a panic.
func TestPanicReachesTheCaller(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the function's panic boom", v)
			}
		}()
		_, _ = c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) { panic("boom") })
	}()
	as := c.Recorder().Attempts(0)
	if len(as) != 1 || as[0].Class != ClassAbandoned || as[0].Reason != ReasonPanic {
		t.Errorf("recorded %+v, want one attempt abandoned by a panic", as)
	}
}

// TestAnswerAsTheTimeoutEnds: an answer that arrives as the request's
// Timeout runs out is still the caller's answer when it is a success, and a
// timeout (not the status) when it is a failure; either way no attempt
// follows. The clock is synctest's, so the Timeout ends exactly.
func TestAnswerAsTheTimeoutEnds(t *testing.T) {
	late := func(code int) RequestFunc {
		return func(ctx context.Context, _ *Upstream) (*http.Response, error) {
			<-ctx.Done() // the server answers just as the Timeout ends
			return status(code), nil
		}
	}
	synctest.Test(t, func(t *testing.T) {
		rp := fastRetry()
		rp.Timeout = time.Second
		c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: rp}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Do(context.Background(), late(200))
		if err != nil || res.Response.StatusCode != 200 {
			t.Fatalf("late success: %v, want the 200 answer", err)
		}
		res.Response.Body.Close()
		res, err = c.Do(context.Background(), late(503))
		var gu *GiveUpError
		if !errors.As(err, &gu) || gu.Attempts != 1 {
			t.Fatalf("late failure: %v, want GiveUpError after 1 attempt", err)
		}
		if as := recorded(c, res.RequestID); len(as) != 1 || as[0].Class != ClassFailure || as[0].Reason != ReasonTimeout {
			t.Errorf("late failure recorded %+v, want a timeout", as)
		}
	})
}

// closeRecorder is a body that tells whether it was read to the end and
// closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (b *closeRecorder) Close() error { b.closed = true; return nil }

// TestFailedAnswersAreDrainedAndClosed: the body of a failed attempt's
// answer is drained and closed before the retry, so its connection is
// freed (and reused); only the last answer is the caller's.
func TestFailedAnswersAreDrainedAndClosed(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: fastRetry()},
		Backoff: func(policy.RetryPolicy) retry.Backoff { return retry.NewConstant(time.Microsecond) }})
	if err != nil {
		t.Fatal(err)
	}
	failed := &closeRecorder{Reader: strings.NewReader(strings.Repeat("x", 1000))}
	calls := 0
	res, err := c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) {
		if calls++; calls == 1 {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Body: failed}, nil
		}
		return status(200), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Response.Body.Close()
	if rest, _ := io.ReadAll(failed.Reader); !failed.closed || len(rest) != 0 {
		t.Errorf("the 503's body: closed %v with %d bytes unread, want drained and closed", failed.closed, len(rest))
	}
}

// TestRetriesWaitTheBackoff: between attempts Do waits the backoff's wait
// (not only records it). The clock is synctest's: the wait is exact.
func TestRetriesWaitTheBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: fastRetry()}})
		if err != nil {
			t.Fatal(err)
		}
		var at []time.Time
		_, _ = c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) {
			at = append(at, time.Now())
			return status(503), nil
		})
		if len(at) != 3 || at[1].Sub(at[0]) != 100*time.Millisecond || at[2].Sub(at[1]) != 100*time.Millisecond {
			t.Errorf("attempts at %v, want three, 100ms apart (BaseDelay, fixed)", at)
		}
	})
}

// TestProxyAuthIsNotAskedAgain: an upstream that refused our credentials
// (407) is not asked again by the same request, even when it is the only
// one: the request gives up; an upstream that failed otherwise is.
func TestProxyAuthIsNotAskedAgain(t *testing.T) {
	for _, tc := range []struct {
		code, calls int
	}{{407, 1}, {503, 3}} {
		c, err := New(Config{Pool: Entries("http://10.0.0.1:1"), Document: policy.Document{Retry: fastRetry()},
			Backoff: func(policy.RetryPolicy) retry.Backoff { return retry.NewConstant(time.Microsecond) }})
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		_, err = c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) {
			calls++
			return status(tc.code), nil
		})
		var gu *GiveUpError
		if !errors.As(err, &gu) || gu.Status != tc.code || calls != tc.calls {
			t.Errorf("%d: %v after %d calls, want GiveUpError after %d", tc.code, err, calls, tc.calls)
		}
	}
}

// TestRetryAfterAHedgeSkipsItsUpstream: when an attempt and its hedge both
// fail, the retry goes to an upstream neither used. Selection is best, and
// the hedge's upstream still scores above the third after its failure, so
// that nothing but the request's memory of its hedge sends the retry to
// the third.
func TestRetryAfterAHedgeSkipsItsUpstream(t *testing.T) {
	rp := fastRetry()
	rp.MaxAttempts = 2
	rp.Hedge = policy.Hedge{On: true, Delay: time.Millisecond, MaxHedges: 1}
	c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1", "http://10.0.0.3:1"),
		Document: policy.Document{Retry: rp, Select: policy.SelectPolicy{Strategy: policy.StrategyBest}},
		Backoff:  func(policy.RetryPolicy) retry.Backoff { return retry.NewConstant(time.Microsecond) }})
	if err != nil {
		t.Fatal(err)
	}
	first, hedge, third := c.Upstream("http://10.0.0.1:1"), c.Upstream("http://10.0.0.2:1"), c.Upstream("http://10.0.0.3:1")
	feed(first, 100, 100, time.Millisecond)
	feed(hedge, 100, 90, time.Millisecond)
	feed(third, 100, 50, time.Millisecond)
	hedgeFailed := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var calls []*Upstream
	res, err := c.Do(WithSite(context.Background(), "example.com"), func(ctx context.Context, u *Upstream) (*http.Response, error) {
		mu.Lock()
		calls = append(calls, u)
		mu.Unlock()
		switch u {
		case first: // fails once the hedge has failed too
			<-hedgeFailed
			return nil, NotSent(errors.New("connection refused"))
		case hedge:
			defer once.Do(func() { close(hedgeFailed) })
			return nil, NotSent(errors.New("connection refused"))
		}
		return status(200), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Response.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	// The attempt and its hedge run in goroutines of their own: either may
	// call first.
	if len(calls) != 3 || !slices.Contains(calls[:2], first) || !slices.Contains(calls[:2], hedge) || calls[2] != third || res.Upstream != third {
		t.Errorf("calls %v, answered by %v; want %v and its hedge %v, then the retry through %v", calls, res.Upstream, first, hedge, third)
	}
}

// TestOnlyTheProxysFaultsCountInItsStats: an upstream's selection
// statistics (Upstream.Stats, what best and p2c score every site by) count
// the failures that are the proxy's own (cannot reach it), not a site's
// failure through it (a 503, a ban), which its (proxy, site) pair counts.
func TestOnlyTheProxysFaultsCountInItsStats(t *testing.T) {
	rp := fastRetry()
	rp.MaxAttempts = 1
	for _, tc := range []struct {
		name     string
		resp     *http.Response
		err      error
		outcomes int
	}{
		{"the site's 503", status(503), nil, 0},
		{"a ban", status(403), nil, 0},
		{"the proxy refused", nil, NotSent(errors.New("connection refused")), 1},
	} {
		c, err := New(Config{Pool: Entries("http://10.0.0.1:1"), Document: policy.Document{Retry: rp}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Do(WithSite(context.Background(), "example.com"), func(context.Context, *Upstream) (*http.Response, error) {
			return tc.resp, tc.err
		})
		if st := c.Upstreams()[0].Stats(); st.Outcomes != tc.outcomes || st.SuccessRate != 0 {
			t.Errorf("%s: proxy stats %+v, want %d outcomes, none a success", tc.name, st, tc.outcomes)
		}
	}
}

// TestNoHedgeUntilTheSiteLatencyIsKnown: without a fixed Delay, a hedge
// waits for the site's latency quantile, which needs minHedgeSamples
// answers: with fewer, an attempt is not hedged however long it takes.
// synctest tells when every goroutine is blocked, so "no hedge" is judged
// after a hedge would have gone.
func TestNoHedgeUntilTheSiteLatencyIsKnown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rp := fastRetry()
		rp.Hedge = policy.Hedge{On: true}
		c, err := New(Config{Pool: Entries("http://10.0.0.1:1", "http://10.0.0.2:1"), Document: policy.Document{Retry: rp}})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for range minHedgeSamples - 1 {
			c.Table().AddLatency("example.com", time.Millisecond, now)
		}
		h := newHedgeFn()
		done := doInBackground(WithSite(context.Background(), "example.com"), c, h.call)
		time.Sleep(time.Hour) // far past any quantile of 1ms answers
		synctest.Wait()
		calls := h.called()
		close(h.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || c.BudgetStats().HedgesSent != 0 {
			t.Errorf("calls %v, hedges sent %d; want one call, no hedge with %d answers", calls, c.BudgetStats().HedgesSent, minHedgeSamples-1)
		}
	})
}
