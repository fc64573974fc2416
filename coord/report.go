package coord

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// Select returns the upstream a request with ctx's settings (WithRegion)
// would be sent through now, for thin clients that call the proxy
// themselves and Report the outcome. It is read-only: it takes no breaker
// permit. It returns ErrNoUpstream when nothing is eligible, and a
// *SiteError when ctx's site (WithSite) is open.
func (c *Coordinator) Select(ctx context.Context) (*Upstream, error) {
	cd := c.pol.Load()
	region := ""
	if o := optsFrom(ctx); o != nil {
		region = o.region
	}
	site := c.siteOfCtx(ctx)
	if site != "" && !c.tb.EligibleAt(state.SiteKey(site)) {
		return nil, c.siteUnavailable(site)
	}
	u := c.sel.pick(c.pool.load().list, &cd.sel, region, site, nil, c.now().UnixNano())
	if u == nil {
		return nil, ErrNoUpstream
	}
	return u, nil
}

// ErrUnknownUpstream is wrapped by the error of Report for an upstream that
// is not in the pool.
var ErrUnknownUpstream = errors.New("coord: unknown upstream")

// UpstreamKey returns the key of the upstream that s names: s is a key or a
// URL, credentials allowed, as in the pool ("http://user:pw@Proxy:8080" names
// "http://proxy:8080"; a missing port is the scheme's default). When s does
// not parse as an upstream URL it is the key of no upstream, and UpstreamKey
// returns it with anything that looks like credentials hidden, so that it
// may be shown in an error.
func UpstreamKey(s string) string {
	if u, err := ParseUpstream(PoolEntry{URL: s}); err == nil {
		return u.key
	}
	return hideUserinfo(s)
}

// hideUserinfo replaces everything before the last '@' of s (after the
// scheme, if any) with "xxxxx": user names may be secrets too (a token as
// the user name).
func hideUserinfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i+3 <= at {
		start = i + 3
	}
	return s[:start] + "xxxxx" + s[at:]
}

// Report records the outcome of an attempt that a thin client made through
// an upstream, named by its key or its URL (see UpstreamKey): it feeds the
// breaker (ClassSuccess as a success, ClassFailure and ClassBan as
// failures, others as nothing), the upstream's selection statistics and the
// Recorder, as one attempt of a new request. An upstream not in the pool is
// an error wrapping ErrUnknownUpstream, which names it without credentials;
// so is an open breaker (state.ErrOpen), in which case only the Recorder
// counts the attempt.
func (c *Coordinator) Report(upstream string, class Class, status int, latency time.Duration) error {
	return c.ReportAt(upstream, "", class, status, latency)
}

// ReportAt is Report for an attempt for a site ("" for none: the proxy
// alone). A failure without a status (the proxy could not be reached) or
// with 407 lands on the proxy; a ban or a failing status on the (proxy,
// site) pair and the site, as the coordinator's own attempts do. An open
// site is an error wrapping ErrSiteUnavailable (the attempt is recorded).
func (c *Coordinator) ReportAt(upstream, site string, class Class, status int, latency time.Duration) error {
	key := UpstreamKey(upstream)
	u := c.Upstream(key)
	if u == nil {
		return fmt.Errorf("%w %q", ErrUnknownUpstream, key)
	}
	if c.keying == KeyingProxy {
		site = ""
	}
	site = cleanSite(site)
	var tk state.Scoped
	lvl, err := c.tb.AdmitScoped(&tk, key, site)
	if lvl == state.LevelSite && err != nil {
		err = c.siteUnavailable(site)
	}
	outcome := state.OutcomeAbandoned
	blame := state.LevelProxy
	switch class {
	case ClassSuccess:
		outcome = state.OutcomeSuccess
		u.stats.record(true, latency, c.pol.Load().sel.Window)
	case ClassFailure, ClassBan:
		outcome = state.OutcomeFailure
		if site != "" && (class == ClassBan || (status != 0 && status != 407)) {
			blame = state.LevelPair
		} else {
			u.stats.record(false, latency, c.pol.Load().sel.Window)
		}
	}
	if err == nil {
		c.tb.SettleScoped(&tk, outcome, blame, latency)
	}
	reason := ReasonNone
	switch class {
	case ClassFailure:
		reason = ReasonStatus
		if status == 0 {
			reason = ReasonConnect
		}
	case ClassBan:
		reason = ReasonBan
	case ClassFatal:
		reason = ReasonFatal
	case ClassAbandoned:
		reason = ReasonCanceled
	}
	c.rec.add(&Attempt{Time: c.now(), RequestID: c.reqID.next(), Attempt: 1, Upstream: key, Site: site,
		Class: class, Reason: reason, Status: status, Latency: latency}, nil)
	if err != nil {
		return fmt.Errorf("coord: report for %s: %w", key, err)
	}
	return nil
}
