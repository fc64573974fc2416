package policy

import (
	"cmp"
	"slices"
	"time"
)

// Backoff names how the wait between attempts grows. The zero value is
// unset and means the default, BackoffExponential. Values are append-only:
// they are stored and sent as names, but never renumber them.
type Backoff uint8

const (
	BackoffDefault     Backoff = iota // unset: exponential
	BackoffExponential                // base · multiplier^n
	BackoffLinear                     // base · (n+1)
	BackoffFixed                      // base
)

// Jitter names how a wait is randomised. The zero value is unset and means
// the default, JitterNone. Values are append-only: they are stored and sent
// as names, but never renumber them.
type Jitter uint8

const (
	JitterDefault      Jitter = iota // unset: none
	JitterNone                       // the computed wait, exactly
	JitterFull                       // uniform in [0, wait]
	JitterEqual                      // wait/2 + uniform in [0, wait/2]
	JitterDecorrelated               // min(MaxDelay, uniform(BaseDelay, 3·previous)); ignores Backoff
)

// RetryPolicy says how often and how patiently a request is retried. The zero
// RetryPolicy means the defaults of DefaultRetry; WithDefaults fills them in.
// A RetryPolicy is a plain value: it is safe to copy and to read from several
// goroutines, as long as nobody writes to RetryStatus's elements.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included
	// (default 3, 1–10).
	MaxAttempts int
	// Backoff is how the wait grows (default exponential).
	Backoff Backoff
	// BaseDelay is the first wait (default 1s, 0.1s–60s).
	BaseDelay time.Duration
	// Multiplier is the growth factor of exponential backoff (default 2,
	// 1.1–10). Fractions are allowed.
	Multiplier float64
	// MaxDelay caps every wait, Retry-After included (default 30s, 1s–300s).
	MaxDelay time.Duration
	// Jitter randomises waits (default none).
	Jitter Jitter
	// RetryStatus lists the HTTP statuses that are retried (default
	// [502, 503, 504]; each within 400–599, so 408 and 429 may be listed).
	// Nil means the default; an empty, non-nil slice retries no status.
	RetryStatus []int
	// Timeout bounds a whole request, waits included (default 0: none; else
	// ≥ 0.1s). Waits are clipped to what is left; no attempt starts past it.
	Timeout time.Duration
	// AttemptTimeout bounds each attempt (default 0: none; else ≥ 0.1s and,
	// when Timeout is set, not above it).
	AttemptTimeout time.Duration
	// RetryNonIdempotent allows retrying methods that RFC 9110 does not call
	// idempotent, such as POST and PATCH (default false).
	RetryNonIdempotent bool
	// IgnoreRetryAfter stops honouring a Retry-After header. By default it is
	// honoured (seconds and HTTP-date), capped at MaxDelay.
	IgnoreRetryAfter bool
	// Budget bounds retries per site across the fleet (default on: 0.2 of
	// first attempts plus 10/s for the fleet, over 10 s; see RetryBudget).
	Budget RetryBudget
	// Hedge sends a late request again through another proxy (default off;
	// see Hedge).
	Hedge Hedge
}

// DefaultRetry returns the retry policy that the zero RetryPolicy stands for.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{
		MaxAttempts: 3,
		Backoff:     BackoffExponential,
		BaseDelay:   time.Second,
		Multiplier:  2,
		MaxDelay:    30 * time.Second,
		Jitter:      JitterNone,
		RetryStatus: []int{502, 503, 504},
		Budget:      DefaultBudget(),
		Hedge:       Hedge{}.WithDefaults(),
	}
}

// WithDefaults returns a copy of p whose zero fields hold the defaults of
// DefaultRetry. A nil RetryStatus becomes [502, 503, 504]; a set one is
// copied, so the result shares no memory with p. Timeout and AttemptTimeout
// stay 0 (none).
func (p RetryPolicy) WithDefaults() RetryPolicy {
	p = p.filled()
	if p.RetryStatus == nil {
		p.RetryStatus = DefaultRetry().RetryStatus
	} else {
		p.RetryStatus = slices.Clone(p.RetryStatus)
	}
	return p
}

// filled is WithDefaults without RetryStatus: it does not allocate.
func (p RetryPolicy) filled() RetryPolicy {
	d := DefaultRetry()
	p.MaxAttempts = cmp.Or(p.MaxAttempts, d.MaxAttempts)
	p.Backoff = cmp.Or(p.Backoff, d.Backoff)
	p.BaseDelay = cmp.Or(p.BaseDelay, d.BaseDelay)
	p.Multiplier = cmp.Or(p.Multiplier, d.Multiplier)
	p.MaxDelay = cmp.Or(p.MaxDelay, d.MaxDelay)
	p.Jitter = cmp.Or(p.Jitter, d.Jitter)
	p.Budget = p.Budget.WithDefaults()
	p.Hedge = p.Hedge.WithDefaults()
	return p
}

// Validate checks p with its defaults filled in. The error names every field
// that is out of bounds and the bound it broke, one per line, for example
// "policy: retry.max_attempts 11 out of range 1–10".
func (p RetryPolicy) Validate() error {
	var ps problems
	p.validate(&ps)
	return ps.err()
}

func (p RetryPolicy) validate(ps *problems) { p.filled().check(ps) }

// check checks p as it is, without filling in defaults.
func (p RetryPolicy) check(ps *problems) {
	ps.intIn("retry.max_attempts", p.MaxAttempts, 1, 10)
	enumIn(ps, "retry.backoff", backoffNames, p.Backoff)
	ps.durIn("retry.base_delay", p.BaseDelay, 100*time.Millisecond, 60*time.Second, "0.1s–60s")
	ps.floatIn("retry.multiplier", p.Multiplier, 1.1, 10)
	ps.durIn("retry.max_delay", p.MaxDelay, time.Second, 300*time.Second, "1s–300s")
	enumIn(ps, "retry.jitter", jitterNames, p.Jitter)
	for _, s := range p.RetryStatus {
		ps.intIn("retry.retry_status", s, 400, 599)
	}
	const minTimeout = 100 * time.Millisecond
	if p.Timeout != 0 && p.Timeout < minTimeout {
		ps.addf("retry.timeout %v out of range 0 (none) or ≥ 0.1s", p.Timeout)
	}
	if p.AttemptTimeout != 0 && p.AttemptTimeout < minTimeout {
		ps.addf("retry.attempt_timeout %v out of range 0 (none) or ≥ 0.1s", p.AttemptTimeout)
	}
	if p.Timeout > 0 && p.AttemptTimeout > p.Timeout {
		ps.addf("retry.attempt_timeout %v above retry.timeout %v", p.AttemptTimeout, p.Timeout)
	}
	p.Budget.check(ps)
	p.Hedge.check(ps)
}

// Retries reports whether a response with the given HTTP status is retried:
// whether status is in RetryStatus (nil: 502, 503 and 504). It does not
// allocate.
func (p RetryPolicy) Retries(status int) bool {
	if p.RetryStatus == nil {
		return status == 502 || status == 503 || status == 504
	}
	return slices.Contains(p.RetryStatus, status)
}

// MayRetry reports whether a request with the given method may be retried
// at all: always when RetryNonIdempotent is set, else only when the method
// is idempotent (see IsIdempotent).
func (p RetryPolicy) MayRetry(method string) bool {
	return p.RetryNonIdempotent || IsIdempotent(method)
}

// IsIdempotent reports whether RFC 9110 (§9.2.2) calls the HTTP method
// idempotent: GET, HEAD, OPTIONS, PUT, DELETE and TRACE. Methods are case
// sensitive; the empty method means GET, as in net/http.
func IsIdempotent(method string) bool {
	switch method {
	case "", "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}
