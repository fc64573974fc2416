package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/state"
)

func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Node: h.c.Table().Node(), Version: h.cfg.Version, MITMCA: h.cfg.MITMCA})
}

func (h *Handler) ready(w http.ResponseWriter, _ *http.Request) {
	r := Readiness{Ready: true}
	if h.cfg.Ready != nil {
		r = h.cfg.Ready()
	}
	if r.Ready {
		r.Error = nil
		writeJSON(w, http.StatusOK, r)
		return
	}
	if r.Reason == "" {
		r.Reason = "not ready: waiting for the first sync with the fleet"
	}
	r.Error = &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: r.Reason}
	writeJSON(w, http.StatusServiceUnavailable, r)
}

func (h *Handler) members(w http.ResponseWriter, _ *http.Request) {
	var ms []Member
	if h.cfg.Members != nil {
		ms = h.cfg.Members.Members()
	}
	if ms == nil {
		ms = []Member{{Name: h.c.Table().Node(), State: "alive"}}
	}
	writeJSON(w, http.StatusOK, ms)
}

// selectTries is how many selections Select makes before scanning the pool
// for an eligible upstream that is not excluded.
const selectTries = 8

func (h *Handler) selectUpstream(w http.ResponseWriter, r *http.Request) {
	var req SelectRequest
	if !decodeOptional(w, r, &req) {
		return
	}
	excluded := make(map[string]bool, len(req.Exclude))
	for _, k := range req.Exclude {
		excluded[normalizeKey(k)] = true
	}
	ctx := coord.WithRegion(r.Context(), req.Region)
	site := ""
	if req.Site != "" {
		ctx = coord.WithSite(ctx, req.Site)
		site = h.c.SiteFor(r.WithContext(ctx)) // the cleaned name; "" under KeyingProxy
	}
	var pick *coord.Upstream
	for range selectTries {
		u, err := h.c.Select(ctx)
		var se *coord.SiteError
		if errors.As(err, &se) {
			writeError(w, http.StatusServiceUnavailable, CodeNoUpstream, "api: "+strings.TrimPrefix(err.Error(), "coord: "))
			return
		}
		if err != nil {
			break
		}
		if !excluded[u.Key()] {
			pick = u
			break
		}
	}
	if pick == nil && len(excluded) > 0 {
		tb := h.c.Table()
		for _, u := range h.c.Upstreams() {
			if !excluded[u.Key()] && tb.EligibleScoped(u.Key(), site) {
				pick = u
				break
			}
		}
	}
	if pick == nil {
		writeError(w, http.StatusServiceUnavailable, CodeNoUpstream, "api: no eligible upstream")
		return
	}
	writeJSON(w, http.StatusOK, Selection{Upstream: pick.Key(), ProxyURL: pick.URL().String()})
}

// MaxReportLatency bounds the latency a report may carry.
const MaxReportLatency = time.Hour

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	var req ReportRequest
	if !decode(w, r, &req) {
		return
	}
	var class coord.Class
	switch req.Outcome {
	case "success":
		class = coord.ClassSuccess
	case "failure":
		class = coord.ClassFailure
	case "ban":
		class = coord.ClassBan
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("api: outcome %q: want success, failure or ban", req.Outcome))
		return
	}
	if req.Status < 0 || req.Status > 999 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("api: status %d out of range 0–999", req.Status))
		return
	}
	var lat time.Duration
	if req.Latency != "" {
		d, err := time.ParseDuration(req.Latency)
		if err != nil || d < 0 || d > MaxReportLatency {
			writeError(w, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("api: latency %q: want a duration from 0 to %v", req.Latency, MaxReportLatency))
			return
		}
		lat = d
	}
	key := normalizeKey(req.Upstream)
	if h.c.Upstream(key) == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("api: upstream %q is not in the pool", key))
		return
	}
	if err := h.c.ReportAt(key, req.Site, class, req.Status, lat); err != nil && !errors.Is(err, state.ErrOpen) && !errors.Is(err, coord.ErrSiteUnavailable) {
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
		return
	}
	tb := h.c.Table()
	writeJSON(w, http.StatusOK, ReportResult{Upstream: key, Phase: tb.State(key).String(), Eligible: tb.Eligible(key)})
}

// hours reads ?hours= (1–168, default 24 when absent), answering 400 with
// the JSON error when it is not one whole number in range: empty, given
// twice, or in a query string that does not parse (which r.URL.Query would
// drop silently, answering for the default instead).
func hours(w http.ResponseWriter, r *http.Request) (int, bool) {
	bad := func(format string, args ...any) (int, bool) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf(format, args...))
		return 0, false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return bad("api: bad query string: %v (want hours=N, N from 1 to %d)", err, coord.MaxHours)
	}
	vs, ok := q["hours"]
	switch {
	case !ok:
		return coord.HoursKept, true
	case len(vs) != 1:
		return bad("api: hours given %d times: give it once, a whole number from 1 to %d", len(vs), coord.MaxHours)
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > coord.MaxHours {
		return bad("api: hours %q: want a whole number from 1 to %d", vs[0], coord.MaxHours)
	}
	return n, true
}

func hourStats(s coord.HourStats) HourStats {
	return HourStats{
		Hour: s.Hour, Requests: s.Requests, Attempts: s.Attempts, Successes: s.Successes,
		SuccessByAttempt: slices.Clone(s.SuccessByAttempt), Failures: s.Failures,
		MeanLatency: s.MeanLatency.String(),
	}
}

func (h *Handler) summary(w http.ResponseWriter, _ *http.Request) {
	s := h.c.Recorder().Summary()
	writeJSON(w, http.StatusOK, Summary{HourStats: hourStats(s.HourStats), Total: s.Total, SuccessRate: s.SuccessRate, Retried: s.Retried})
}

func (h *Handler) timeSeries(w http.ResponseWriter, r *http.Request) {
	n, ok := hours(w, r)
	if !ok {
		return
	}
	ts, err := h.c.Recorder().TimeSeries(n)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	out := make([]HourStats, 0, len(ts))
	for _, s := range ts {
		out = append(out, hourStats(s))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) byProxy(w http.ResponseWriter, r *http.Request) {
	n, ok := hours(w, r)
	if !ok {
		return
	}
	ps, err := h.c.Recorder().ByProxy(n)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	out := make([]ProxyStats, 0, len(ps))
	for _, p := range ps {
		out = append(out, ProxyStats{Upstream: p.Upstream, Attempts: p.Attempts, Successes: p.Successes,
			Failures: p.Failures, Bans: p.Bans, SuccessRate: p.SuccessRate, MeanLatency: p.MeanLatency.String()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	n, ok := hours(w, r)
	if !ok {
		return
	}
	evs, err := h.c.Recorder().Events(n)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, Event{Time: e.Time.UTC(), Level: e.Level.String(), Upstream: e.Upstream, Site: e.Site, From: e.From.String(), To: e.To.String(),
			Gen: e.Gen, Source: e.Source.String(), Origin: e.Origin, Reason: e.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}
