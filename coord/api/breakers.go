package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/state"
)

// Bounds of a manual trip's open time.
const (
	MinTripFor = time.Second
	MaxTripFor = 24 * time.Hour
)

// normalizeKey turns an upstream given by a client (a key, or a URL) into
// a key; what does not parse is kept as is, credentials hidden (see
// coord.UpstreamKey).
func normalizeKey(s string) string { return coord.UpstreamKey(s) }

func isBreaker(r state.Record) bool { return r.Kind == 0 || r.Kind == state.KindBreaker }

// breaker describes one breaker: its record, or closed when pristine.
func (h *Handler) breaker(k state.Key, inPool bool) Breaker {
	tb := h.c.Table()
	b := Breaker{Level: k.Level().String(), Upstream: k.Proxy, Site: k.Site, Phase: state.PhaseClosed.String(),
		InPool: inPool, Eligible: tb.EligibleAt(k)}
	if rec, ok := tb.RecordAt(k); ok {
		fillBreaker(&b, rec)
	}
	return b
}

func fillBreaker(b *Breaker, rec state.Record) {
	b.Phase = rec.Phase.String()
	b.Gen = rec.Gen
	b.Origin = rec.Origin
	b.Reason = rec.Reason
	b.HLC = uint64(rec.HLC)
	if rec.HLC != 0 {
		b.Time = rec.HLC.Time().UTC()
	}
	if rec.OpenFor > 0 {
		b.OpenFor = roundOpenFor(rec.OpenFor)
	}
}

// breakers lists every pool upstream and every other non-pristine breaker
// (pairs and sites included), sorted by upstream, then site.
func (h *Handler) breakers() []Breaker {
	tb := h.c.Table()
	seen := map[state.Key]bool{}
	var out []Breaker
	for _, u := range h.c.Upstreams() {
		k := state.ProxyKey(u.Key())
		seen[k] = true
		out = append(out, h.breaker(k, true))
	}
	for _, rec := range tb.Snapshot() {
		k := rec.Key()
		if !isBreaker(rec) || seen[k] {
			continue
		}
		seen[k] = true
		b := Breaker{Level: k.Level().String(), Upstream: k.Proxy, Site: k.Site, Eligible: tb.EligibleAt(k),
			InPool: k.Proxy != "" && h.c.Upstream(k.Proxy) != nil}
		fillBreaker(&b, rec)
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Breaker) int {
		if c := strings.Compare(a.Upstream, b.Upstream); c != 0 {
			return c
		}
		return strings.Compare(a.Site, b.Site)
	})
	return out
}

func (h *Handler) listBreakers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, level, site := q.Get("state"), q.Get("level"), q.Get("site")
	switch filter {
	case "", "open", "half-open", "closed":
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("api: state %q: want open, half-open or closed", filter))
		return
	}
	switch level {
	case "", "proxy", "pair", "site":
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("api: level %q: want proxy, pair or site", level))
		return
	}
	out := []Breaker{}
	for _, b := range h.breakers() {
		if (filter == "" || b.Phase == filter) && (level == "" || b.Level == level) && (site == "" || b.Site == site) {
			out = append(out, b)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// known resolves the path's breaker to a key this node knows: an upstream
// (in the pool or with a record), or that upstream for the query's site
// (a pair: the upstream must be known, the pair need not have a record),
// or the path's site (/v1/sites/{site}: any site). Otherwise it answers
// 404, or 400 for a site name no Table holds.
func (h *Handler) known(w http.ResponseWriter, r *http.Request) (k state.Key, inPool, ok bool) {
	if site := r.PathValue("site"); site != "" {
		k = state.SiteKey(site)
	} else {
		k = state.PairKey(normalizeKey(r.PathValue("upstream")), r.URL.Query().Get("site"))
	}
	if len(k.Site) > state.MaxSiteLen || strings.ContainsAny(k.Site, " \t\r\n") {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: a site is a name without spaces, at most 253 bytes")
		return state.Key{}, false, false
	}
	if k.Proxy == "" {
		return k, false, true
	}
	inPool = h.c.Upstream(k.Proxy) != nil
	if !inPool {
		if _, rec := h.c.Table().Record(k.Proxy); !rec {
			writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("api: unknown upstream %q", k.Proxy))
			return state.Key{}, false, false
		}
	}
	return k, inPool, true
}

func (h *Handler) getBreaker(w http.ResponseWriter, r *http.Request) {
	k, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.breaker(k, inPool))
}

func (h *Handler) trip(w http.ResponseWriter, r *http.Request) {
	var req TripRequest
	if !decodeOptional(w, r, &req) {
		return
	}
	var openFor time.Duration
	if req.For != "" && req.For != "0" {
		d, err := time.ParseDuration(req.For)
		if err != nil || d < MinTripFor || d > MaxTripFor {
			writeError(w, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("api: for %q: want a duration from %v to %v (or 0: the policy's open time)", req.For, MinTripFor, MaxTripFor))
			return
		}
		openFor = d
	}
	if len(req.Reason) > 200 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: reason longer than 200 bytes")
		return
	}
	k, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	h.c.Table().TripAt(k, openFor, req.Reason)
	h.logger.Info("breaker tripped through the API", "level", k.Level(), "upstream", k.Proxy, "site", k.Site, "for", openFor, "reason", req.Reason)
	writeJSON(w, http.StatusOK, h.breaker(k, inPool))
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	k, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	if _, changed := h.c.Table().ResetAt(k); changed {
		h.logger.Info("breaker reset through the API", "level", k.Level(), "upstream", k.Proxy, "site", k.Site)
	}
	writeJSON(w, http.StatusOK, h.breaker(k, inPool))
}

// roundOpenFor shows an open time to the second, or to the millisecond
// under one second.
func roundOpenFor(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
