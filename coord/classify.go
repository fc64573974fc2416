package coord

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/proxywhirl/retrycoord/policy"
)

// Class is what an attempt's result means. The zero value is ClassSuccess.
type Class uint8

const (
	ClassSuccess   Class = iota // the upstream worked; the response is the caller's answer
	ClassFailure                // the upstream failed: counted against its breaker, retried elsewhere
	ClassBan                    // the target banned the upstream: a failure for it, retried elsewhere
	ClassFatal                  // the request itself is bad: no upstream can fix it, not retried
	ClassAbandoned              // the caller gave up (context ended) or the attempt panicked
	// ClassTarget: the proxy worked and reports that the target failed
	// (Proxy-Status, X-Squid-Error). It is retried like a failure but
	// counts against no proxy's breaker: today, before per-site breakers,
	// one dead site must not take a healthy proxy away from every other
	// site. Per-site breakers count it against the site.
	ClassTarget
)

// String returns "success", "failure", "ban", "fatal", "abandoned" or
// "target".
func (c Class) String() string {
	switch c {
	case ClassSuccess:
		return "success"
	case ClassFailure:
		return "failure"
	case ClassBan:
		return "ban"
	case ClassFatal:
		return "fatal"
	case ClassAbandoned:
		return "abandoned"
	case ClassTarget:
		return "target"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Reason says why an attempt failed. The zero value is ReasonNone.
type Reason uint8

const (
	ReasonNone      Reason = iota // not a failure
	ReasonConnect                 // the proxy or target could not be reached
	ReasonTimeout                 // the attempt or the request timed out
	ReasonStatus                  // a status listed in RetryStatus
	ReasonProxyAuth               // 407 from the proxy
	ReasonBan                     // a ban status or the IsBan hook
	ReasonFatal                   // a request error no upstream can fix
	ReasonCanceled                // the caller's context ended
	ReasonPanic                   // the request function panicked
	ReasonTarget                  // the proxy reports that the target failed
	ReasonHedgeLost               // another attempt of the request answered first: cancelled
	reasonCount
)

var reasonNames = [reasonCount]string{"none", "connect", "timeout", "status", "proxy_auth", "ban", "fatal", "canceled", "panic", "target", "hedge_lost"}

// String returns the reason's snake_case name, e.g. "proxy_auth".
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Classifier maps an attempt's (response, error) to a Class, as DESIGN §6
// says: connect errors, timeouts, 407 and the policy's RetryStatus are
// failures; BanStatus and the IsBan hook are bans; errors marked with Fatal
// are fatal; every other status is a success for the upstream and the
// caller's answer. A SOCKS5 authentication failure is proxy_auth like a
// 407. A RetryStatus answer in which the proxy reports that the target
// failed (Proxy-Status, RFC 9209, or squid's X-Squid-Error; see
// TargetFailed) is ClassTarget. The zero Classifier uses the defaults. A Classifier is
// read-only after New and safe for concurrent use.
type Classifier struct {
	// BanStatus lists the statuses that mean the target banned the proxy
	// (default [403, 429]). An empty, non-nil slice means none.
	BanStatus []int
	// IsBan, when set, is asked about every response that is not already a
	// failure or a ban, e.g. to spot a captcha page served with 200. It may
	// read the body only through PeekBody, which puts what it read back.
	IsBan func(*http.Response) bool
}

// Classify returns the class and reason of one attempt under rp. err is
// the request function's error, resp its response (nil on error).
func (c *Classifier) Classify(resp *http.Response, err error, rp *policy.RetryPolicy) (Class, Reason) {
	if err != nil {
		var ce *ConnectError
		switch {
		case errors.As(err, &ce):
			return c.Classify(ce.response(), nil, rp)
		case errors.Is(err, ErrFatal):
			return ClassFatal, ReasonFatal
		case errors.Is(err, context.Canceled):
			return ClassAbandoned, ReasonCanceled
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return ClassFailure, ReasonTimeout
		case isSOCKSAuth(err):
			return ClassFailure, ReasonProxyAuth
		}
		return ClassFailure, ReasonConnect
	}
	if resp == nil {
		return ClassFailure, ReasonConnect
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusProxyAuthRequired:
		return ClassFailure, ReasonProxyAuth
	case c.bans(code):
		return ClassBan, ReasonBan
	case rp.Retries(code):
		if TargetFailed(resp.Header) {
			return ClassTarget, ReasonTarget
		}
		return ClassFailure, ReasonStatus
	case c.IsBan != nil && c.IsBan(resp):
		return ClassBan, ReasonBan
	}
	return ClassSuccess, ReasonNone
}

func (c *Classifier) bans(code int) bool {
	if c.BanStatus == nil {
		return code == 403 || code == 429
	}
	return slices.Contains(c.BanStatus, code)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// ErrFatal marks request errors that no upstream can fix (a malformed URL,
// an unsupported scheme). Request functions wrap it (see Fatal); such
// errors are returned at once, without retry, and count against no upstream.
var ErrFatal = errors.New("coord: fatal request error")

// Fatal wraps err so that it is classified as fatal.
func Fatal(err error) error { return &fatalError{err} }

type fatalError struct{ err error }

func (e *fatalError) Error() string   { return e.err.Error() }
func (e *fatalError) Unwrap() []error { return []error{ErrFatal, e.err} }

// PeekBody returns up to n bytes of resp's body and puts them back, so that
// the body still reads in full afterwards (for IsBan hooks).
func PeekBody(resp *http.Response, n int) ([]byte, error) {
	if resp == nil || resp.Body == nil || resp.Body == http.NoBody || n <= 0 {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(n)))
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(b), resp.Body), c: resp.Body}
	return b, err
}

type peekedBody struct {
	io.Reader
	c io.Closer
}

func (p *peekedBody) Close() error { return p.c.Close() }
