package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/api/client"
	"github.com/proxywhirl/retrycoord/state"
)

// The live view's JSON forms (see package client).
type (
	View        = client.View
	FleetMember = client.FleetMember
	Delay       = client.Delay
	ProxyView   = client.ProxyView
	BreakerView = client.BreakerView
)

// FeedSize is the most transitions View.Feed carries.
const FeedSize = client.FeedSize

// view serves GET /v1/view: the fleet, the pool with recent figures, every
// breaker with a record and the transition feed, for the live view.
func (h *Handler) view(w http.ResponseWriter, _ *http.Request) {
	tb := h.c.Table()
	v := View{Node: tb.Node(), Version: h.cfg.Version, Time: time.Now().UTC()}
	v.Members = h.fleet()
	v.Proxies = h.proxyViews()
	v.Breakers = h.breakerViews()
	v.Feed = h.feed()
	writeJSON(w, http.StatusOK, v)
}

// fleet returns the members with the delay of each one's records here.
func (h *Handler) fleet() []FleetMember {
	var ms []Member
	if h.cfg.Members != nil {
		ms = h.cfg.Members.Members()
	}
	self := h.c.Table().Node()
	if ms == nil {
		ms = []Member{{Name: self, State: "alive"}}
	}
	out := make([]FleetMember, 0, len(ms))
	for _, m := range ms {
		fm := FleetMember{Member: m, Self: m.Name == self}
		if !fm.Self {
			fm.Delay = h.counts.delay(m.Name)
		}
		out = append(out, fm)
	}
	slices.SortFunc(out, func(a, b FleetMember) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// proxyViews returns the pool with each proxy's success rate and p95
// latency over the recorder's recent attempts.
func (h *Handler) proxyViews() []ProxyView {
	type agg struct {
		ok  int
		lat []time.Duration
	}
	by := map[string]*agg{}
	for _, a := range h.c.Recorder().Attempts(0) {
		g := by[a.Upstream]
		if g == nil {
			g = &agg{}
			by[a.Upstream] = g
		}
		if a.Class == coord.ClassSuccess {
			g.ok++
		}
		g.lat = append(g.lat, a.Latency)
	}
	ups := h.c.Upstreams()
	out := make([]ProxyView, 0, len(ups))
	for _, u := range ups {
		p := ProxyView{Upstream: u.Key(), Region: u.Region()}
		if g := by[u.Key()]; g != nil {
			slices.Sort(g.lat)
			p.Attempts = len(g.lat)
			p.SuccessRate = float64(g.ok) / float64(len(g.lat))
			p.P95MS = ms(rank(g.lat, 0.95))
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ProxyView) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}

// breakerViews returns every breaker with a record, sorted by key.
func (h *Handler) breakerViews() []BreakerView {
	tb := h.c.Table()
	out := []BreakerView{}
	now := time.Now() // Snapshot's open times remain from about now
	for _, rec := range tb.Snapshot() {
		if !isBreaker(rec) {
			continue
		}
		k := rec.Key()
		b := BreakerView{Breaker: Breaker{Level: k.Level().String(), Upstream: k.Proxy, Site: k.Site,
			Eligible: tb.EligibleAt(k), InPool: k.Proxy != "" && h.c.Upstream(k.Proxy) != nil}}
		fillBreaker(&b.Breaker, rec)
		if rec.Phase != state.PhaseClosed && h.cfg.ProbeOwner != nil {
			b.ProbeOwner = h.cfg.ProbeOwner(k.String())
		}
		if rec.Phase == state.PhaseOpen {
			b.ProbeAt = now.Add(rec.OpenFor).UTC().Round(time.Millisecond)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BreakerView) int {
		return cmp.Or(strings.Compare(a.Upstream, b.Upstream), strings.Compare(a.Site, b.Site))
	})
	return out
}

// feed returns the last client.FeedSize breaker transitions this Handler
// saw, oldest first.
func (h *Handler) feed() []Transition { return h.counts.recent() }
