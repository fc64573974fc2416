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

// breaker describes one upstream: its record, or closed when pristine.
func (h *Handler) breaker(key string, inPool bool) Breaker {
	tb := h.c.Table()
	b := Breaker{Upstream: key, Phase: state.PhaseClosed.String(), InPool: inPool, Eligible: tb.Eligible(key)}
	if rec, ok := tb.Record(key); ok {
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

// breakers lists every pool upstream and every other non-pristine breaker,
// sorted by key.
func (h *Handler) breakers() []Breaker {
	tb := h.c.Table()
	seen := map[string]bool{}
	var out []Breaker
	for _, u := range h.c.Upstreams() {
		seen[u.Key()] = true
		out = append(out, h.breaker(u.Key(), true))
	}
	for _, rec := range tb.Snapshot() {
		if !isBreaker(rec) || seen[rec.Upstream] {
			continue
		}
		seen[rec.Upstream] = true
		b := Breaker{Upstream: rec.Upstream, Eligible: tb.Eligible(rec.Upstream)}
		fillBreaker(&b, rec)
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Breaker) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}

func (h *Handler) listBreakers(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("state")
	switch filter {
	case "", "open", "half-open", "closed":
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("api: state %q: want open, half-open or closed", filter))
		return
	}
	out := []Breaker{}
	for _, b := range h.breakers() {
		if filter == "" || b.Phase == filter {
			out = append(out, b)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// known resolves the path's upstream to a key this node knows (in the pool
// or with a record); otherwise it answers 404.
func (h *Handler) known(w http.ResponseWriter, r *http.Request) (key string, inPool, ok bool) {
	key = normalizeKey(r.PathValue("upstream"))
	inPool = h.c.Upstream(key) != nil
	if !inPool {
		if _, rec := h.c.Table().Record(key); !rec {
			writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("api: unknown upstream %q", key))
			return "", false, false
		}
	}
	return key, inPool, true
}

func (h *Handler) getBreaker(w http.ResponseWriter, r *http.Request) {
	key, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.breaker(key, inPool))
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
	key, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	h.c.Table().Trip(key, openFor, req.Reason)
	h.logger.Info("breaker tripped through the API", "upstream", key, "for", openFor, "reason", req.Reason)
	writeJSON(w, http.StatusOK, h.breaker(key, inPool))
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	key, inPool, ok := h.known(w, r)
	if !ok {
		return
	}
	if _, changed := h.c.Table().Reset(key); changed {
		h.logger.Info("breaker reset through the API", "upstream", key)
	}
	writeJSON(w, http.StatusOK, h.breaker(key, inPool))
}

// roundOpenFor shows an open time to the second, or to the millisecond
// under one second.
func roundOpenFor(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
