package coord

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/proxywhirl/retrycoord/state"
	"golang.org/x/net/publicsuffix"
)

// ErrSiteUnavailable is returned at once, without an attempt, when the
// request's site is open: it failed through so many proxies (SpreadProxies,
// at SiteFailureRate) that the site, not the pool, is at fault, or an
// operator tripped it. One probe per open time, fleet-wide, checks whether
// it is back. The error returned wraps it with the site and the reason; the
// agent answers it with HTTP 503.
var ErrSiteUnavailable = errors.New("coord: site unavailable")

// Keying says which breakers an attempt's failures land on.
type Keying uint8

const (
	// KeyingSite (the default) blames the right thing: a proxy for what
	// only the proxy can cause (cannot reach it, 407, CONNECT refused), a
	// (proxy, site) pair for bans and the site's failures through a working
	// proxy, a site for what fails through every proxy (DESIGN §3b).
	KeyingSite Keying = iota
	// KeyingProxy is the behaviour before sites: every failure lands on
	// the proxy, whatever the site. Kept for comparison.
	KeyingProxy
)

// String returns "site" or "proxy".
func (k Keying) String() string {
	if k == KeyingProxy {
		return "proxy"
	}
	return "site"
}

// SiteOf returns the default site of a request: the registrable domain
// (eTLD+1, by the public suffix list) of its host, lower-cased; an IP
// literal, "localhost" or a name that is itself a public suffix as itself.
// It returns "" when the request has no host.
func SiteOf(r *http.Request) string {
	if r == nil {
		return ""
	}
	host := r.Host
	if r.URL != nil && r.URL.Host != "" {
		host = r.URL.Host
	}
	return SiteOfHost(host)
}

// SiteOfHost is SiteOf for a host or host:port.
func SiteOfHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" || net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return host
	}
	if site, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return site
	}
	return host
}

// WithSite returns a context whose requests count against site (a name of
// the caller's choosing, e.g. a group of sites behind one anti-bot vendor)
// instead of the one Config.Site derives. An empty site means "unscoped":
// failures land on proxies alone, as with KeyingProxy.
func WithSite(ctx context.Context, site string) context.Context {
	return withOpts(ctx, func(o *requestOpts) { o.site, o.hasSite = cleanSite(site), true })
}

// cleanSite keeps a site name within what a Table holds: no spaces, at most
// state.MaxSiteLen bytes.
func cleanSite(s string) string {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Join(strings.Fields(s), "-")
	}
	if len(s) > state.MaxSiteLen {
		s = s[:state.MaxSiteLen]
	}
	return s
}

// SiteFor returns the site a request counts against: the context's
// (WithSite), else Config.Site's answer, else SiteOf. Under KeyingProxy it
// is always "". The forward proxy asks it for each request and CONNECT.
func (c *Coordinator) SiteFor(r *http.Request) string {
	if c.keying == KeyingProxy {
		return ""
	}
	if o := optsFrom(r.Context()); o != nil && o.hasSite {
		return o.site
	}
	return cleanSite(c.siteFn(r))
}

// siteOf is the site of a Do call without a request: the context's.
func (c *Coordinator) siteOfCtx(ctx context.Context) string {
	if c.keying == KeyingProxy {
		return ""
	}
	if o := optsFrom(ctx); o != nil && o.hasSite {
		return o.site
	}
	return ""
}

// blameOf says which level an attempt's failure belongs to: the proxy for
// what only the proxy can cause — it could not be reached or talked to
// (connect errors; any error after which nothing was sent), 407, a CONNECT
// refused by the proxy itself — and the (proxy, site) pair for the rest:
// bans, the site's failing statuses and timeouts through a working proxy,
// and a proxy's report that the target failed (ClassTarget).
func blameOf(class Class, reason Reason, err error) state.Level {
	switch {
	case class == ClassTarget:
		return state.LevelPair
	case reason == ReasonProxyAuth || reason == ReasonConnect:
		return state.LevelProxy
	case err != nil && errors.Is(err, ErrNotSent):
		return state.LevelProxy
	}
	var ce *ConnectError
	if err != nil && errors.As(err, &ce) {
		return state.LevelProxy
	}
	return state.LevelPair
}

// siteUnavailable wraps ErrSiteUnavailable with the site and the reason its
// breaker gives.
func (c *Coordinator) siteUnavailable(site string) error {
	reason := "open"
	if rec, ok := c.tb.RecordAt(state.SiteKey(site)); ok && rec.Reason != "" {
		reason = rec.Reason
	}
	return &SiteError{Site: site, Reason: reason}
}

// SiteError is the error of a request whose site is open. It unwraps to
// ErrSiteUnavailable.
type SiteError struct {
	Site   string // the site
	Reason string // why its breaker opened, e.g. "failing through 5 proxies"
}

func (e *SiteError) Error() string {
	return "coord: site " + e.Site + " unavailable: " + e.Reason
}

// Unwrap returns ErrSiteUnavailable.
func (e *SiteError) Unwrap() error { return ErrSiteUnavailable }
