package coord

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNoUpstream is returned at once when no upstream is eligible: the pool
// is empty or every breaker is open. Nothing is queued or retried. The agent
// answers it with HTTP 503.
var ErrNoUpstream = errors.New("coord: no eligible upstream")

// GiveUpError is returned when a request's last allowed attempt failed (or
// its Timeout left no room for another). It unwraps to the last attempt's
// error, a *StatusError for a failing status. The agent answers it with
// HTTP 502.
type GiveUpError struct {
	Attempts int    // attempts made
	Upstream string // key of the last upstream tried
	Status   int    // the last attempt's HTTP status, 0 when it had none
	Last     error  // the last attempt's error
	// BudgetExhausted reports that the site's retry budget refused the
	// next retry.
	BudgetExhausted bool
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("coord: gave up after %d attempt%s: %v", e.Attempts, plural(e.Attempts), e.Last)
}

// Unwrap returns the last attempt's error.
func (e *GiveUpError) Unwrap() error { return e.Last }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// StatusError is the error of an attempt that got a failing or ban status.
type StatusError struct {
	Code  int
	Class Class // ClassFailure or ClassBan
}

func (e *StatusError) Error() string {
	if e.Class == ClassBan {
		return "coord: banned: status " + strconv.Itoa(e.Code)
	}
	return "coord: status " + strconv.Itoa(e.Code)
}
