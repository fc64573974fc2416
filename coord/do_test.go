package coord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/sethvargo/go-retry"
)

func TestIntermittentFailuresSucceedOnAttempt3(t *testing.T) {
	farm := testproxy.Start(t, 3)
	origin := testproxy.NewOrigin(t)
	origin.ScriptStatus(502, 503)
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	resp, body, err := get(t, cl, context.Background(), origin.URL)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	n, up, ok := AttemptsFromResponse(resp)
	if !ok || n != 3 || up == "" {
		t.Errorf("AttemptsFromResponse = %d %q %v, want 3 attempts", n, up, ok)
	}
	as := recorded(c, lastRequest(c))
	if len(as) != 3 || as[2].Class != ClassSuccess || as[0].Status != 502 || as[1].Status != 503 {
		t.Errorf("recorded %+v, want 502, 503, success", as)
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	farm := testproxy.Start(t, 3)
	farm.SetAll(testproxy.Status(503))
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	_, _, err := get(t, cl, context.Background(), origin.URL)
	var gu *GiveUpError
	if !errors.As(err, &gu) {
		t.Fatalf("err = %v, want *GiveUpError", err)
	}
	var se *StatusError
	if gu.Attempts != 3 || gu.Status != 503 || !errors.As(err, &se) || se.Code != 503 {
		t.Errorf("GiveUpError = %+v, want 3 attempts, last status 503", gu)
	}
	if got := farm.Requests(); got != 3 {
		t.Errorf("proxies saw %d requests, want 3", got)
	}
	for i, p := range farm.Proxies {
		if p.Requests() != 1 {
			t.Errorf("proxy %d saw %d requests, want 1 (failover to distinct proxies)", i, p.Requests())
		}
	}
}

func TestUnlistedStatusIsNotRetried(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	origin.ScriptStatus(504)
	rp := fastRetry()
	rp.RetryStatus = []int{502, 503}
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	resp, _, err := get(t, cl, context.Background(), origin.URL)
	if err != nil || resp.StatusCode != 504 {
		t.Fatalf("got %v %v, want the 504 response", resp, err)
	}
	if n, _, _ := AttemptsFromResponse(resp); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
	if as := recorded(c, lastRequest(c)); len(as) != 1 || as[0].Class != ClassSuccess {
		t.Errorf("recorded %+v, want one success for the proxy", as)
	}
}

func TestTimeoutClipsTheWait(t *testing.T) {
	farm := testproxy.Start(t, 3)
	farm.SetAll(testproxy.Status(503))
	origin := testproxy.NewOrigin(t)
	rp := policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 5 * time.Second, MaxDelay: 10 * time.Second, Timeout: 500 * time.Millisecond}
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	start := time.Now()
	_, _, err := get(t, cl, context.Background(), origin.URL)
	elapsed := time.Since(start)
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 1 {
		t.Fatalf("err = %v, want *GiveUpError after 1 attempt", err)
	}
	if farm.Requests() != 1 {
		t.Errorf("proxies saw %d requests, want 1", farm.Requests())
	}
	if elapsed > 3*time.Second { // generous: the point is that it did not wait 5s
		t.Errorf("took %v, want about the 0.5s timeout, well before the 5s delay", elapsed)
	}
}

func TestPerRequestOverride(t *testing.T) {
	farm := testproxy.Start(t, 3)
	farm.SetAll(testproxy.Status(502))
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	rp := fastRetry()
	rp.MaxAttempts = 2
	ctx, err := WithRetryPolicy(context.Background(), rp)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = get(t, cl, ctx, origin.URL)
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 2 {
		t.Fatalf("err = %v, want *GiveUpError after 2 attempts", err)
	}
	if _, err := WithRetryPolicy(context.Background(), policy.RetryPolicy{MaxAttempts: 11}); err == nil {
		t.Error("WithRetryPolicy(max_attempts 11): want an error")
	}
}

func TestOpenBreakerIsSkipped(t *testing.T) {
	farm := testproxy.Start(t, 3)
	origin := testproxy.NewOrigin(t)
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	c.Table().Trip(keyOf(farm.Proxies[0]), 0, "test")
	for range 20 {
		if resp, _, err := get(t, cl, context.Background(), origin.URL); err != nil || resp.StatusCode != 200 {
			t.Fatalf("get: %v %v", resp, err)
		}
	}
	if n := farm.Proxies[0].Requests(); n != 0 {
		t.Errorf("open proxy saw %d requests, want 0", n)
	}
}

func TestAllOpenIsErrNoUpstream(t *testing.T) {
	farm := testproxy.Start(t, 3)
	origin := testproxy.NewOrigin(t)
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	for _, p := range farm.Proxies {
		c.Table().Trip(keyOf(p), 0, "test")
	}
	start := time.Now()
	_, _, err := get(t, cl, context.Background(), origin.URL)
	if !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("err = %v, want ErrNoUpstream", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %v, want at once", time.Since(start))
	}
	if farm.Requests() != 0 {
		t.Errorf("proxies saw %d requests, want 0", farm.Requests())
	}
	if _, err := c.Do(context.Background(), nil); !errors.Is(err, ErrNoUpstream) {
		t.Errorf("Do: %v, want ErrNoUpstream", err)
	}
}

func TestHalfOpenProbeClosesTheBreaker(t *testing.T) {
	tb, clk := fakeTable(t)
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	c, cl := setup(t, farm, Config{Table: tb, Document: policy.Document{Retry: fastRetry()}})
	// A 502 through a working proxy is the site's failing status: it lands
	// on the (proxy, site) pair, which is the breaker that opens here.
	key := state.PairKey(keyOf(farm.Proxies[0]), SiteOf(&http.Request{Host: strings.TrimPrefix(origin.URL, "http://")}))
	farm.Proxies[0].Set(testproxy.Status(502))
	for range 2 { // 2 requests × 3 attempts ≥ FailureThreshold 5
		_, _, _ = get(t, cl, context.Background(), origin.URL)
	}
	if got := tb.StateAt(key); got != state.PhaseOpen {
		t.Fatalf("breaker %v, want open", got)
	}
	if _, _, err := get(t, cl, context.Background(), origin.URL); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("while open: %v, want ErrNoUpstream", err)
	}
	farm.Proxies[0].Set(testproxy.Healthy())
	clk.Advance(30 * time.Second)
	resp, _, err := get(t, cl, context.Background(), origin.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe: %v %v, want 200", resp, err)
	}
	if got := tb.StateAt(key); got != state.PhaseClosed {
		t.Errorf("breaker %v after a successful probe, want closed", got)
	}
	_ = c
}

func TestNonIdempotentGetsOneAttempt(t *testing.T) {
	farm := testproxy.Start(t, 3)
	farm.SetAll(testproxy.Status(503))
	origin := testproxy.NewOrigin(t)
	var bodies []string
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
	}))
	for _, allow := range []bool{false, true} {
		rp := fastRetry()
		rp.RetryNonIdempotent = allow
		farm.SetAll(testproxy.Status(503))
		for _, p := range farm.Proxies {
			p.ResetCounters()
		}
		_, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
		resp, err := cl.Post(origin.URL, "text/plain", strings.NewReader("payload"))
		if err == nil {
			resp.Body.Close()
		}
		want := 1
		if allow {
			want = 3
		}
		var gu *GiveUpError
		if !errors.As(err, &gu) || gu.Attempts != want {
			t.Errorf("allow=%v: err %v, want GiveUpError after %d", allow, err, want)
		}
		if got := farm.Requests(); got != int64(want) {
			t.Errorf("allow=%v: proxies saw %d, want %d", allow, got, want)
		}
	}
	// A replayed POST carries its body on every attempt.
	rp := fastRetry()
	rp.RetryNonIdempotent = true
	farm.SetAll(testproxy.Healthy())
	origin.ScriptStatus(502)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	req, _ := http.NewRequest(http.MethodPost, origin.URL, strings.NewReader("payload"))
	req.GetBody = nil // force buffering
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if len(bodies) != 1 || bodies[0] != "payload" {
		t.Errorf("origin got bodies %q on the retry, want [payload]", bodies)
	}
}

func TestLargeBodyGetsOneAttempt(t *testing.T) {
	farm := testproxy.Start(t, 2)
	farm.SetAll(testproxy.Status(503))
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}, MaxReplayBody: 4})
	req, _ := http.NewRequest(http.MethodPut, origin.URL, strings.NewReader("more than four bytes"))
	req.GetBody = nil
	_, err := cl.Do(req)
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 1 {
		t.Errorf("err %v, want GiveUpError after 1 attempt", err)
	}
}

func TestRetryAfterIsHonouredUpToMaxDelay(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	for _, tt := range []struct{ name, value string }{
		{"seconds", "30"},
		{"http-date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			farm := testproxy.Start(t, 2)
			farm.SetAll(testproxy.Fault{Kind: testproxy.KindStatus, Status: 503, RetryAfter: tt.value})
			rp := fastRetry()
			rp.MaxAttempts, rp.MaxDelay = 2, time.Second
			c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
			_, _, err := get(t, cl, context.Background(), origin.URL)
			var gu *GiveUpError
			if !errors.As(err, &gu) || gu.Attempts != 2 {
				t.Fatalf("err %v, want GiveUpError after 2", err)
			}
			as := recorded(c, lastRequest(c))
			if len(as) != 2 || as[1].Delay != time.Second {
				t.Errorf("recorded %+v, want the second attempt after MaxDelay 1s", as)
			}
		})
	}
	t.Run("ignored", func(t *testing.T) {
		farm := testproxy.Start(t, 2)
		farm.SetAll(testproxy.Fault{Kind: testproxy.KindStatus, Status: 503, RetryAfter: "30"})
		rp := fastRetry()
		rp.MaxAttempts, rp.IgnoreRetryAfter = 2, true
		c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
		_, _, _ = get(t, cl, context.Background(), origin.URL)
		if as := recorded(c, lastRequest(c)); len(as) != 2 || as[1].Delay != 100*time.Millisecond {
			t.Errorf("recorded %+v, want the base delay", as)
		}
	})
}

func TestFailoverHitsDistinctProxies(t *testing.T) {
	farm := testproxy.Start(t, 4)
	farm.Proxies[0].Set(testproxy.Refuse())
	farm.Proxies[1].Set(testproxy.ProxyAuth())
	farm.Proxies[2].Set(testproxy.Ban(429))
	farm.Proxies[3].Set(testproxy.Status(502))
	origin := testproxy.NewOrigin(t)
	rp := fastRetry()
	rp.MaxAttempts = 4
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	_, _, err := get(t, cl, context.Background(), origin.URL)
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 4 {
		t.Fatalf("err %v, want GiveUpError after 4", err)
	}
	seen := map[string]Reason{}
	for _, a := range recorded(c, lastRequest(c)) {
		seen[a.Upstream] = a.Reason
	}
	want := map[string]Reason{
		keyOf(farm.Proxies[0]): ReasonConnect,
		keyOf(farm.Proxies[1]): ReasonProxyAuth,
		keyOf(farm.Proxies[2]): ReasonBan,
		keyOf(farm.Proxies[3]): ReasonStatus,
	}
	for k, r := range want {
		if seen[k] != r {
			t.Errorf("%s: reason %v, want %v (all: %v)", k, seen[k], r, seen)
		}
	}
}

func TestAttemptTimeoutOnHangingProxy(t *testing.T) {
	farm := testproxy.Start(t, 2)
	farm.Proxies[0].Set(testproxy.Hang(10 * time.Second))
	farm.Proxies[1].Set(testproxy.Hang(10 * time.Second))
	origin := testproxy.NewOrigin(t)
	rp := fastRetry()
	rp.MaxAttempts, rp.AttemptTimeout = 2, 100*time.Millisecond
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	_, _, err := get(t, cl, context.Background(), origin.URL)
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempts != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want GiveUpError after 2 timeouts", err)
	}
	for _, a := range recorded(c, lastRequest(c)) {
		if a.Reason != ReasonTimeout {
			t.Errorf("attempt %d: reason %v, want timeout", a.Attempt, a.Reason)
		}
	}
}

func TestCallerCancelIsReturnedAsIs(t *testing.T) {
	farm := testproxy.Start(t, 2)
	farm.SetAll(testproxy.Hang(10 * time.Second))
	origin := testproxy.NewOrigin(t)
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := get(t, cl, ctx, origin.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's error", err)
	}
	var gu *GiveUpError
	if errors.As(err, &gu) {
		t.Errorf("err %v is a GiveUpError, want the context error as is", err)
	}
	for _, p := range farm.Proxies {
		if got := c.Table().State(keyOf(p)); got != state.PhaseClosed {
			t.Errorf("breaker %v after a cancellation, want closed", got)
		}
	}
}

func TestFatalIsNotRetried(t *testing.T) {
	farm := testproxy.Start(t, 2)
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	if _, err := cl.Get("ftp://example.invalid/x"); !errors.Is(err, ErrFatal) {
		t.Errorf("ftp URL: %v, want ErrFatal", err)
	}
	calls := 0
	_, err := c.Do(context.Background(), func(ctx context.Context, u *Upstream) (*http.Response, error) {
		calls++
		return nil, Fatal(errors.New("bad request"))
	})
	if !errors.Is(err, ErrFatal) || calls != 1 {
		t.Errorf("Do: %v after %d calls, want ErrFatal after 1", err, calls)
	}
	if farm.Requests() != 0 {
		t.Errorf("proxies saw %d", farm.Requests())
	}
}

func TestPanicReturnsTheProbePermit(t *testing.T) {
	tb, clk := fakeTable(t)
	c, err := New(Config{Table: tb, Pool: Entries("http://127.0.0.1:9"), Document: policy.Document{Retry: fastRetry()}})
	if err != nil {
		t.Fatal(err)
	}
	tb.Trip("http://127.0.0.1:9", 0, "test")
	clk.Advance(31 * time.Second)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not propagate")
			}
		}()
		_, _ = c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) { panic("boom") })
	}()
	if !tb.Eligible("http://127.0.0.1:9") {
		t.Error("probe permit not returned after a panic")
	}
	ok := &http.Response{StatusCode: 200, Body: http.NoBody}
	if _, err := c.Do(context.Background(), func(context.Context, *Upstream) (*http.Response, error) { return ok, nil }); err != nil {
		t.Fatalf("probe after the panic: %v", err)
	}
	if tb.State("http://127.0.0.1:9") != state.PhaseClosed {
		t.Error("breaker not closed by the probe")
	}
}

func TestTimeoutKeepsTheBodyReadable(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	rp := fastRetry()
	rp.Timeout, rp.AttemptTimeout = 2*time.Second, time.Second
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	resp, body, err := get(t, cl, context.Background(), origin.URL)
	if err != nil || resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %v %q %v, want 200 ok", resp, body, err)
	}
	if _, ok := resp.Body.(*cancelBody); !ok {
		t.Errorf("body %T, want it to cancel the request's timers on Close", resp.Body)
	}
}

// TestBackoffEngineIsPluggable: Config.Backoff takes any go-retry Backoff;
// it is asked for at the first retry only, its waits are the waits, and an
// engine that stops, or a wait that would reach Timeout, ends the request.
func TestBackoffEngineIsPluggable(t *testing.T) {
	bad := func(context.Context, *Upstream) (*http.Response, error) {
		return &http.Response{StatusCode: 502, Body: http.NoBody}, nil
	}
	good := func(context.Context, *Upstream) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}
	for _, tc := range []struct {
		name       string
		engine     func() retry.Backoff
		timeout    time.Duration
		fn         RequestFunc
		wantCalls  int32
		wantTries  int
		wantDelays []time.Duration
	}{
		{"its waits", func() retry.Backoff { return retry.NewConstant(3 * time.Millisecond) }, 0, bad,
			1, 3, []time.Duration{0, 3 * time.Millisecond, 3 * time.Millisecond}},
		{"it stops", func() retry.Backoff { return retry.WithMaxRetries(1, retry.NewConstant(time.Millisecond)) }, 0, bad,
			1, 2, []time.Duration{0, time.Millisecond}},
		{"a wait past Timeout", func() retry.Backoff { return retry.NewConstant(time.Hour) }, time.Second, bad,
			1, 1, []time.Duration{0}},
		{"no retry, no engine", func() retry.Backoff { return retry.NewConstant(time.Millisecond) }, 0, good,
			0, 1, []time.Duration{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			rp := policy.RetryPolicy{MaxAttempts: 3, Timeout: tc.timeout}
			c, err := New(Config{
				Pool:     Entries("http://10.0.0.1:1", "http://10.0.0.2:1", "http://10.0.0.3:1"),
				Document: policy.Document{Retry: rp},
				Backoff: func(got policy.RetryPolicy) retry.Backoff {
					calls.Add(1)
					if got.MaxAttempts != 3 {
						t.Errorf("Backoff got MaxAttempts %d, want the request's 3", got.MaxAttempts)
					}
					return tc.engine()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			res, _ := c.Do(context.Background(), tc.fn)
			if res.Attempts != tc.wantTries {
				t.Errorf("attempts = %d, want %d", res.Attempts, tc.wantTries)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("Backoff called %d times, want %d", got, tc.wantCalls)
			}
			var delays []time.Duration
			for _, a := range recorded(c, res.RequestID) {
				delays = append(delays, a.Delay)
			}
			if diff := cmp.Diff(tc.wantDelays, delays); diff != "" {
				t.Errorf("recorded delays (-want +got):\n%s", diff)
			}
		})
	}
}
