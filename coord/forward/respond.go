package forward

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/proxywhirl/retrycoord/coord"
)

// fail answers a request that the coordinator could not complete: 503 when
// no upstream was eligible, 502 when it gave up, 400 for a fatal request
// error; nothing at all when the client went away.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		p.canceled.Add(1)
		// The client is gone: write nothing and drop the connection.
		panic(http.ErrAbortHandler)
	}
	h := w.Header()
	var gu *coord.GiveUpError
	var se *coord.SiteError
	switch {
	case errors.As(err, &se):
		p.noUp.Add(1)
		h.Set(coord.HeaderAttempts, "0")
		plain(w, http.StatusServiceUnavailable, "retrycoord: site "+se.Site+" unavailable: "+se.Reason)
	case errors.Is(err, coord.ErrNoUpstream):
		p.noUp.Add(1)
		if err == coord.ErrNoUpstream { // at once; else the last eligible opened after some attempts
			h.Set(coord.HeaderAttempts, "0")
		}
		plain(w, http.StatusServiceUnavailable,
			"retrycoord: no eligible upstream proxy: the pool is empty or every breaker is open")
	case errors.As(err, &gu):
		p.gaveUp.Add(1)
		h.Set(coord.HeaderAttempts, strconv.Itoa(gu.Attempts))
		h.Set(coord.HeaderUpstream, gu.Upstream)
		if gu.BudgetExhausted {
			h.Set(coord.HeaderBudget, "exhausted")
		}
		p.logger.Debug("forward: gave up", "method", r.Method, "attempts", gu.Attempts, "upstream", gu.Upstream, "err", p.redact(gu.Upstream, errText(gu.Last)))
		plain(w, http.StatusBadGateway, "retrycoord: gave up after "+strconv.Itoa(gu.Attempts)+" attempt"+plural(gu.Attempts)+
			"; last upstream "+gu.Upstream+": "+p.redact(gu.Upstream, errText(gu.Last)))
	case errors.Is(err, coord.ErrFatal):
		p.bad.Add(1)
		plain(w, http.StatusBadRequest, "retrycoord: bad request: "+strings.TrimPrefix(err.Error(), "coord: "))
	default:
		p.gaveUp.Add(1)
		p.logger.Debug("forward: request failed", "method", r.Method, "err", p.redactAll(err.Error()))
		plain(w, http.StatusBadGateway, "retrycoord: "+strings.TrimPrefix(p.redactAll(err.Error()), "coord: "))
	}
}

func errText(err error) string {
	if err == nil {
		return "failed"
	}
	var se *coord.StatusError
	if errors.As(err, &se) {
		return strings.TrimPrefix(se.Error(), "coord: ")
	}
	return err.Error()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// redact removes the password of the upstream with the given key from s.
func (p *Proxy) redact(key, s string) string {
	return redactURLPassword(p.c.Upstream(key), s)
}

// redactAll removes every upstream's password from s (rare error paths
// only: it scans the pool).
func (p *Proxy) redactAll(s string) string {
	for _, u := range p.c.Upstreams() {
		s = redactURLPassword(u, s)
	}
	return s
}

func redactURLPassword(u *coord.Upstream, s string) string {
	if u == nil || u.URL().User == nil {
		return s
	}
	if pw, ok := u.URL().User.Password(); ok && pw != "" {
		s = strings.ReplaceAll(s, pw, "xxxxx")
	}
	return s
}
