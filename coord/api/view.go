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
	SiteFigures = client.SiteFigures
)

// FeedSize is the most transitions View.Feed carries.
const FeedSize = client.FeedSize

// view serves GET /v1/view: the fleet, the pool with recent figures, every
// breaker with a record, the transition feed and the retry budgets, for
// the live view.
func (h *Handler) view(w http.ResponseWriter, _ *http.Request) {
	tb := h.c.Table()
	v := View{Node: tb.Node(), Version: h.cfg.Version, Time: time.Now().UTC()}
	v.Members = h.fleet()
	v.Proxies = h.proxyViews()
	v.Breakers = h.breakerViews()
	v.Feed = h.feed()
	v.Budgets = h.budgetView()
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
// latency over the recorder's recent attempts, in all and per site. It
// reads the recorder's ring once (at most coord.AttemptRing attempts) and
// keeps figures only for the proxies and sites those attempts name.
func (h *Handler) proxyViews() []ProxyView {
	type pair struct{ up, site string }
	by := map[pair]*figures{} // site "": every attempt through the proxy
	add := func(k pair, a *coord.Attempt) {
		g := by[k]
		if g == nil {
			g = &figures{}
			by[k] = g
		}
		g.add(a)
	}
	sites := map[string][]string{} // proxy → its sites with attempts
	for _, a := range h.c.Recorder().Attempts(0) {
		add(pair{a.Upstream, ""}, &a)
		if a.Site != "" {
			k := pair{a.Upstream, a.Site}
			if by[k] == nil {
				sites[a.Upstream] = append(sites[a.Upstream], a.Site)
			}
			add(k, &a)
		}
	}
	ups := h.c.Upstreams()
	out := make([]ProxyView, 0, len(ups))
	for _, u := range ups {
		p := ProxyView{Upstream: u.Key(), Region: u.Region()}
		if g := by[pair{u.Key(), ""}]; g != nil {
			p.Attempts, p.SuccessRate, p.P95MS = g.summary()
		}
		for _, site := range sites[u.Key()] {
			sf := SiteFigures{Site: site}
			sf.Attempts, sf.SuccessRate, sf.P95MS = by[pair{u.Key(), site}].summary()
			p.Sites = append(p.Sites, sf)
		}
		slices.SortFunc(p.Sites, func(a, b SiteFigures) int { return strings.Compare(a.Site, b.Site) })
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ProxyView) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}

// figures gathers the outcomes and latencies of some attempts.
type figures struct {
	ok  int
	lat []time.Duration
}

func (g *figures) add(a *coord.Attempt) {
	if a.Class == coord.ClassSuccess {
		g.ok++
	}
	g.lat = append(g.lat, a.Latency)
}

// summary returns how many attempts, the share that succeeded and the 95th
// percentile latency in ms.
func (g *figures) summary() (attempts int, successRate, p95MS float64) {
	slices.Sort(g.lat)
	return len(g.lat), float64(g.ok) / float64(len(g.lat)), ms(rank(g.lat, 0.95))
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
			Eligible: tb.EligibleAt(k), InPool: k.Proxy != "" && h.c.Upstream(k.Proxy) != nil},
			Reporters: tb.Reporters(k)}
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
