package coord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/sethvargo/go-retry"
)

// Result describes a request that Do completed.
type Result struct {
	Response  *http.Response // the caller's answer; the caller closes its body
	Upstream  *Upstream      // the upstream that gave it (the last tried on error)
	Attempts  int            // attempts made, ≥ 1 unless no upstream was eligible
	RequestID uint64         // the request's id in the Recorder
	// BudgetExhausted reports that the site's retry budget refused a
	// retry: Response is the last attempt's answer, not a success.
	BudgetExhausted bool
	// Hedged is how many hedges the request sent (see policy.Hedge).
	Hedged int
}

// RequestFunc performs one attempt of a request through upstream u. It must
// honour ctx, which carries the attempt's deadline. Mark errors that no
// upstream can fix with Fatal.
type RequestFunc func(ctx context.Context, u *Upstream) (*http.Response, error)

// Do performs a request with retries and failover. Every attempt selects an
// eligible upstream not yet tried by this request (when there is one), asks
// its breaker (Admit), calls fn, classifies the result, settles the ticket,
// records the attempt and, on a failure or ban, waits the policy's backoff
// (or Retry-After, up to MaxDelay), clipped to the request's Timeout, before
// the next attempt. No attempt starts past Timeout.
//
// It returns the first success (or any status the classifier leaves to the
// caller) with a nil error; ErrNoUpstream at once when nothing is eligible;
// a *GiveUpError when the attempts ran out; the context's error as is when
// ctx ends; and a fatal error (see Fatal) as is. Response bodies of failed
// attempts are drained (up to 64 KiB) and closed.
//
// Do treats the calls as idempotent unless ctx says otherwise (WithMethod);
// WithRetryPolicy and WithRegion apply per request.
//
// A request counts against its site (WithSite; Do has no request to derive
// one from): an open site fails at once with a *SiteError (errors.Is
// ErrSiteUnavailable), and each attempt's failure lands on the proxy, the
// (proxy, site) pair or the site, whichever explains it. Without a site,
// failures land on the proxy.
func (c *Coordinator) Do(ctx context.Context, fn RequestFunc) (Result, error) {
	return c.exec(ctx, "", c.siteOfCtx(ctx), true, fn)
}

// request is one call of exec: what its attempts share, so that each
// attempt needs only its upstream, its ticket and its start.
type request struct {
	c        *Coordinator
	ctx      context.Context // the caller's: its end abandons the request
	rctx     context.Context // ctx bounded by the policy's Timeout (ctx itself without one)
	deadline time.Time       // rctx's deadline; zero without a Timeout
	rp       *policy.RetryPolicy
	sp       *policy.SelectPolicy
	region   string
	site     string       // "" for unscoped: failures land on proxies alone
	tk       state.Scoped // the current attempt's admission
	fn       RequestFunc
	// onlyUnsent: the request may not be repeated (RFC 9110 §9.2.2), so
	// it is retried only after an attempt that provably sent nothing
	// (ErrNotSent).
	onlyUnsent bool
	// hedge: the request may be hedged (policy on, idempotent, replayable,
	// a site to time it by).
	hedge    bool
	res      Result
	tried    [maxAttempts]*Upstream
	hedgedTo [3]*Upstream       // upstreams that hedges went to (policy.Hedge.MaxHedges ≤ 3)
	backoff  retry.Backoff      // made at the first retry: the path that does not retry allocates nothing
	hint     *policy.RetryAfter // backoff's Retry-After decorator (nil when ignored)
	delay    time.Duration      // the wait before the current attempt
}

// exec is Do for a request with the given method ("" for Do: from ctx, else
// idempotent); replayable says whether the request may be sent again.
func (c *Coordinator) exec(ctx context.Context, method, site string, replayable bool, fn RequestFunc) (res Result, err error) {
	cd := c.pol.Load()
	r := request{c: c, ctx: ctx, rctx: ctx, rp: &cd.retry, sp: &cd.sel, fn: fn, site: site}
	if site != "" && !c.tb.EligibleAt(state.SiteKey(site)) {
		return r.res, c.siteUnavailable(site)
	}
	if o := optsFrom(ctx); o != nil {
		if o.retry != nil {
			r.rp = o.retry
		}
		r.region = o.region
		if method == "" && o.hasMethod {
			method = o.method
		}
	}
	limit := min(r.rp.MaxAttempts, maxAttempts)
	if !replayable {
		limit = 1
	}
	r.onlyUnsent = !r.rp.MayRetry(method)
	r.hedge = r.rp.Hedge.On && site != "" && replayable && policy.IsIdempotent(method)
	r.res.RequestID = c.reqID.next()
	if r.rp.Timeout > 0 {
		var cancel context.CancelFunc
		r.rctx, cancel = context.WithTimeout(ctx, r.rp.Timeout)
		r.deadline, _ = r.rctx.Deadline()
		defer func() {
			if cancel != nil {
				cancel()
			}
		}()
		// A successful response's body outlives exec: cancel on Close.
		// (res is the named result, so the wrapper reaches the caller.)
		defer func() {
			if res.Response != nil && res.Response.Body != nil && cancel != nil {
				res.Response.Body = &cancelBody{ReadCloser: res.Response.Body, cancel: cancel}
				cancel = nil
			}
		}()
	}
	return r.run(limit)
}

// run makes up to limit attempts, waiting between them as the backoff says.
func (r *request) run(limit int) (Result, error) {
	var (
		last   error
		status int
		authNo upstreamSet // upstreams that refused our credentials (407)
	)
	for attempt := 1; attempt <= limit; attempt++ {
		now := r.c.now() // one clock read serves selection and the attempt's start
		tk := &r.tk
		u, siteOpen := r.acquireSkip(tk, attempt, now)
		if siteOpen {
			return r.res, r.c.siteUnavailable(r.site)
		}
		if u == nil {
			return r.res, noUpstream(attempt, last)
		}
		if authNo.has(u) { // it refused our credentials: give up rather than ask again
			r.c.tb.SettleScoped(tk, state.OutcomeAbandoned, 0, 0)
			break
		}
		r.tried[attempt-1] = u
		r.res.Upstream, r.res.Attempts = u, attempt
		if attempt == 1 && r.site != "" {
			r.c.tb.CountFirst(r.site, now)
		}
		var a attemptResult
		if r.hedge && r.res.Hedged < min(r.rp.Hedge.MaxHedges, len(r.hedgedTo)) {
			a = r.hedged(u, tk, attempt, now)
		} else {
			a = r.attempt(u, tk, attempt, now, r.rctx, nil)
		}
		switch a.class {
		case ClassSuccess:
			r.res.Response = a.resp
			return r.res, nil
		case ClassAbandoned:
			if cerr := r.ctx.Err(); cerr != nil {
				return r.res, cerr
			}
			return r.res, a.err
		case ClassFatal:
			discard(a.resp)
			return r.res, a.err
		}
		last, status = a.err, a.status
		if a.reason == ReasonProxyAuth {
			authNo.add(u)
		}
		if attempt == limit || a.timeUp || (r.onlyUnsent && !errors.Is(a.err, ErrNotSent)) {
			discard(a.resp)
			break
		}
		d, stop := r.wait(a.retryAfter)
		if stop {
			discard(a.resp)
			break
		}
		if !r.chargeRetry(a.blame) {
			return r.exhausted(a, status)
		}
		discard(a.resp)
		r.delay = d
		if serr := sleep(r.ctx, d); serr != nil {
			return r.res, serr
		}
	}
	return r.res, &GiveUpError{Attempts: r.res.Attempts, Upstream: r.res.Upstream.Key(), Status: status, Last: last}
}

// acquireSkip is acquire that also skips the upstreams hedges went to.
func (r *request) acquireSkip(tk *state.Scoped, attempt int, now time.Time) (*Upstream, bool) {
	skip := r.tried[:attempt-1]
	if r.res.Hedged > 0 {
		var buf [maxAttempts + len(request{}.hedgedTo)]*Upstream
		skip = append(append(buf[:0], skip...), r.hedgedTo[:r.res.Hedged]...)
	}
	return r.c.acquire(tk, r.sp, r.region, r.site, skip, now)
}

// wait returns the wait before the next attempt, and true when the backoff
// stopped (the engine gave up, or the wait would reach the Timeout). The
// backoff is made at the first retry, from Config.Backoff decorated with the
// request's rules (policy.RetryPolicy.WithRequestRules).
func (r *request) wait(retryAfter time.Duration) (time.Duration, bool) {
	if r.backoff == nil {
		r.backoff, r.hint = r.rp.WithRequestRules(r.c.backoff(*r.rp), r.deadline)
	}
	if r.hint != nil {
		r.hint.Hint(retryAfter)
	}
	return r.backoff.Next()
}

// acquire selects an upstream and admits it for site, trying another when
// a breaker rejects the chosen one (its last probe permit was just taken).
// siteOpen reports that the site's breaker refused: no upstream will do.
// The admission is written to tk.
func (c *Coordinator) acquire(tk *state.Scoped, sp *policy.SelectPolicy, region, site string, tried []*Upstream, now time.Time) (u *Upstream, siteOpen bool) {
	list := c.pool.load().list
	var buf [maxAttempts + 4]*Upstream
	skip := append(buf[:0], tried...)
	for range 4 {
		u := c.sel.pick(list, sp, region, site, skip, now.UnixNano())
		if u == nil {
			return nil, false
		}
		lvl, err := c.tb.AdmitScopedRef(tk, &u.ref, u.key, site)
		if err == nil {
			return u, false
		}
		if lvl == state.LevelSite {
			return nil, true
		}
		skip = append(skip, u)
	}
	return nil, false
}

// attemptResult is what became of one attempt.
type attemptResult struct {
	class      Class
	reason     Reason
	err        error
	resp       *http.Response // the answer; on failure the caller discards it
	status     int
	blame      state.Level // where a failure landed (0 unless failed with a site)
	retryAfter time.Duration
	timeUp     bool // the request's Timeout ran out
}

// attempt makes attempt n through u, admitted with tk at start: it calls
// fn under parent (rctx, or a hedge's context), classifies, settles the
// ticket and records the attempt. lost, when set, tells an attempt that
// another answered first and cancelled it: it is abandoned, not failed.
func (r *request) attempt(u *Upstream, tk *state.Scoped, n int, start time.Time, parent context.Context, lost *atomic.Bool) (a attemptResult) {
	c, ctx, rctx, rp, delay := r.c, r.ctx, r.rctx, r.rp, r.delay
	actx := parent
	var acancel context.CancelFunc
	if rp.AttemptTimeout > 0 {
		actx, acancel = context.WithTimeout(parent, rp.AttemptTimeout)
	}
	settled := false
	defer func() {
		if !settled { // fn panicked: return the permit, record, re-panic
			c.tb.SettleScoped(tk, state.OutcomeAbandoned, 0, 0)
			if acancel != nil {
				acancel()
			}
			c.rec.add(&Attempt{Time: c.now(), RequestID: r.res.RequestID, Attempt: n, Upstream: u.key, Site: r.site,
				Class: ClassAbandoned, Reason: ReasonPanic, Delay: delay, Err: "panic"}, u)
		}
	}()
	resp, err := r.fn(actx, u)
	settled = true
	end := c.now()
	lat := end.Sub(start)
	class, reason := c.cls.Classify(resp, err, rp)
	switch {
	case ctx.Err() != nil:
		class, reason = ClassAbandoned, ReasonCanceled
	case lost != nil && lost.Load():
		class, reason = ClassAbandoned, ReasonHedgeLost
	case rctx != ctx && rctx.Err() != nil:
		if class != ClassSuccess {
			class, reason = ClassFailure, ReasonTimeout
		}
		a.timeUp = true
	}
	if resp != nil {
		a.status = resp.StatusCode
	} else if ce := (*ConnectError)(nil); errors.As(err, &ce) {
		a.status = ce.StatusCode
	}
	switch {
	case class == ClassSuccess:
		c.tb.SettleScoped(tk, state.OutcomeSuccess, 0, lat)
		u.stats.record(true, lat, c.pol.Load().sel.Window)
		if r.hedge {
			c.tb.AddLatency(r.site, lat, end)
		}
	case r.site == "" && (class == ClassFailure || class == ClassBan):
		c.tb.SettleScoped(tk, state.OutcomeFailure, state.LevelProxy, lat)
		u.stats.record(false, lat, c.pol.Load().sel.Window)
	case r.site != "" && (class == ClassFailure || class == ClassBan || class == ClassTarget):
		blame := blameOf(class, reason, err)
		a.blame = blame
		c.tb.SettleScoped(tk, state.OutcomeFailure, blame, lat)
		if blame == state.LevelProxy {
			u.stats.record(false, lat, c.pol.Load().sel.Window)
		}
	default: // abandoned, fatal, and unscoped target failures: no count against the proxy
		c.tb.SettleScoped(tk, state.OutcomeAbandoned, 0, lat)
	}
	c.sel.noteLatency(u)
	rec := Attempt{Time: end, RequestID: r.res.RequestID, Attempt: n, Upstream: u.key, Site: r.site, Class: class,
		Reason: reason, Status: a.status, Delay: delay, Latency: lat}
	if err != nil {
		rec.Err = u.redact(err.Error())
	}
	c.rec.add(&rec, u)
	a.class, a.reason = class, reason
	if class == ClassSuccess {
		if acancel != nil && resp.Body != nil {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: acancel}
		} else if acancel != nil {
			acancel()
		}
		a.resp = resp
		return a
	}
	a.err = err
	if err == nil && resp != nil {
		a.err = &StatusError{Code: resp.StatusCode, Class: class}
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), end)
	}
	c.logFailed(ctx, &rec)
	if resp != nil && resp.Body != nil && acancel != nil && class != ClassAbandoned {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: acancel}
		acancel = nil
	}
	if class == ClassAbandoned {
		discard(resp)
		resp = nil
	}
	a.resp = resp
	if acancel != nil {
		acancel()
	}
	return a
}

// retryAfter parses a Retry-After value, in seconds or as an HTTP-date
// relative to now; 0 when absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// discard drains (up to 64 KiB, so the connection can be reused) and closes
// a response body.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cancelBody cancels an attempt's context when the caller closes the body.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
