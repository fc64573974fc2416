package coord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// Result describes a request that Do completed.
type Result struct {
	Response  *http.Response // the caller's answer; the caller closes its body
	Upstream  *Upstream      // the upstream that gave it (the last tried on error)
	Attempts  int            // attempts made, ≥ 1 unless no upstream was eligible
	RequestID uint64         // the request's id in the Recorder
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
func (c *Coordinator) Do(ctx context.Context, fn RequestFunc) (Result, error) {
	return c.exec(ctx, "", true, fn)
}

// exec is Do for a request with the given method ("" for Do: from ctx, else
// idempotent); replayable says whether the request may be sent again.
func (c *Coordinator) exec(ctx context.Context, method string, replayable bool, fn RequestFunc) (res Result, err error) {
	cd := c.pol.Load()
	rp, sp, region := &cd.retry, &cd.sel, ""
	if o := optsFrom(ctx); o != nil {
		if o.retry != nil {
			rp = o.retry
		}
		region = o.region
		if method == "" && o.hasMethod {
			method = o.method
		}
	}
	limit := min(rp.MaxAttempts, maxAttempts)
	if !replayable {
		limit = 1
	}
	// A request that may not be repeated (RFC 9110 §9.2.2) is retried only
	// after an attempt that provably sent nothing (ErrNotSent).
	onlyUnsent := !rp.MayRetry(method)
	res.RequestID = c.reqID.Add(1)
	rctx := ctx
	var deadline time.Time
	if rp.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, rp.Timeout)
		deadline, _ = rctx.Deadline()
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
	var (
		tried  [maxAttempts]*Upstream
		authNo upstreamSet // upstreams that refused our credentials (407)
		waits  policy.Waits
		last   error
		status int
		delay  time.Duration
	)
	for attempt := 1; attempt <= limit; attempt++ {
		now := c.now() // one clock read serves selection and the attempt's start
		u, tk := c.acquire(sp, region, tried[:attempt-1], now)
		if u == nil {
			return res, noUpstream(attempt, last)
		}
		if authNo.has(u) { // it refused our credentials: give up rather than ask again
			c.tb.Settle(tk, state.OutcomeAbandoned, 0)
			break
		}
		tried[attempt-1] = u
		res.Upstream, res.Attempts = u, attempt
		a := c.attempt(ctx, rctx, rp, fn, u, tk, attempt, delay, now, &res)
		switch a.class {
		case ClassSuccess:
			res.Response = a.resp
			return res, nil
		case ClassAbandoned:
			if cerr := ctx.Err(); cerr != nil {
				return res, cerr
			}
			return res, a.err
		case ClassFatal:
			return res, a.err
		}
		last, status = a.err, a.status
		if a.reason == ReasonProxyAuth {
			authNo.add(u)
		}
		if attempt == limit || a.timeUp || (onlyUnsent && !errors.Is(a.err, ErrNotSent)) {
			break
		}
		if attempt == 1 {
			waits = rp.NewWaits()
		}
		delay = waits.Next()
		if a.retryAfter > 0 && !rp.IgnoreRetryAfter {
			delay = max(delay, min(a.retryAfter, rp.MaxDelay))
		}
		stop := false
		if !deadline.IsZero() {
			if left := time.Until(deadline); delay >= left {
				delay, stop = max(left, 0), true
			}
		}
		if serr := sleep(ctx, delay); serr != nil {
			return res, serr
		}
		if stop {
			break
		}
	}
	return res, &GiveUpError{Attempts: res.Attempts, Upstream: res.Upstream.Key(), Status: status, Last: last}
}

// acquire selects an upstream and admits it, trying another when the
// breaker rejects the chosen one (its last probe permit was just taken).
func (c *Coordinator) acquire(sp *policy.SelectPolicy, region string, tried []*Upstream, now time.Time) (*Upstream, state.Ticket) {
	list := c.pool.load().list
	var buf [maxAttempts + 4]*Upstream
	skip := append(buf[:0], tried...)
	for range 4 {
		u := c.sel.pick(list, sp, region, skip, now.UnixNano())
		if u == nil {
			return nil, state.Ticket{}
		}
		tk, err := c.tb.Admit(u.key)
		if err == nil {
			return u, tk
		}
		skip = append(skip, u)
	}
	return nil, state.Ticket{}
}

// attemptResult is what became of one attempt.
type attemptResult struct {
	class      Class
	reason     Reason
	err        error
	resp       *http.Response // set only on success
	status     int
	retryAfter time.Duration
	timeUp     bool // the request's Timeout ran out
}

func (c *Coordinator) attempt(ctx, rctx context.Context, rp *policy.RetryPolicy, fn RequestFunc, u *Upstream, tk state.Ticket, n int, delay time.Duration, start time.Time, res *Result) (a attemptResult) {
	actx := rctx
	var acancel context.CancelFunc
	if rp.AttemptTimeout > 0 {
		actx, acancel = context.WithTimeout(rctx, rp.AttemptTimeout)
	}
	settled := false
	defer func() {
		if !settled { // fn panicked: return the permit, record, re-panic
			c.tb.Settle(tk, state.OutcomeAbandoned, 0)
			if acancel != nil {
				acancel()
			}
			c.rec.add(&Attempt{Time: c.now(), RequestID: res.RequestID, Attempt: n, Upstream: u.key,
				Class: ClassAbandoned, Reason: ReasonPanic, Delay: delay, Err: "panic"})
		}
	}()
	resp, err := fn(actx, u)
	settled = true
	end := c.now()
	lat := end.Sub(start)
	class, reason := c.cls.Classify(resp, err, rp)
	switch {
	case ctx.Err() != nil:
		class, reason = ClassAbandoned, ReasonCanceled
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
	switch class {
	case ClassSuccess:
		c.tb.Settle(tk, state.OutcomeSuccess, lat)
		u.stats.record(true, lat, c.pol.Load().sel.Window)
	case ClassFailure, ClassBan:
		c.tb.Settle(tk, state.OutcomeFailure, lat)
		u.stats.record(false, lat, c.pol.Load().sel.Window)
	default: // abandoned, fatal, and target failures: no count against the proxy
		c.tb.Settle(tk, state.OutcomeAbandoned, lat)
	}
	c.sel.noteLatency(u)
	rec := Attempt{Time: end, RequestID: res.RequestID, Attempt: n, Upstream: u.key, Class: class,
		Reason: reason, Status: a.status, Delay: delay, Latency: lat}
	if err != nil {
		rec.Err = u.redact(err.Error())
	}
	c.rec.add(&rec)
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
	discard(resp)
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
