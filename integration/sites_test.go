package integration

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// siteByPort makes every loopback origin a site of its own, as distinct
// hosts would be.
func siteByPort(r *http.Request) string { return strings.ReplaceAll(r.URL.Host, ":", "-") }

func siteOfURL(u string) string {
	return strings.ReplaceAll(strings.TrimPrefix(u, "http://"), ":", "-")
}

// TestFleetSiteBanKeepsOtherSites is the headline promise of per-site
// breakers, as a user meets it: one site answers 403 to everyone; through
// a three-node fleet sharing ten proxies, every request to the other sites
// still succeeds on every node, no proxy opens anywhere, and the banning
// site opens as a site on every node.
func TestFleetSiteBanKeepsOtherSites(t *testing.T) {
	farm := testproxy.Start(t, 10)
	banning := testproxy.NewOrigin(t)
	banning.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }))
	healthy := []*testproxy.Origin{testproxy.NewOrigin(t), testproxy.NewOrigin(t)}
	doc := policy.Document{Retry: policy.RetryPolicy{BaseDelay: 100 * time.Millisecond}}
	f := startFleet(t, fleetOpts{size: 3, sharing: shareFleet, pool: farm.URLs(), doc: doc, fast: true, site: siteByPort})
	ctx := context.Background()
	for round := range 15 {
		for _, n := range f.nodes {
			_, _ = n.get(ctx, banning.URL)
			for _, o := range healthy {
				if _, err := n.get(ctx, o.URL); err != nil {
					t.Fatalf("round %d, %s, healthy site %s: %v", round, n.name, o.URL, err)
				}
			}
		}
	}
	site := state.SiteKey(siteOfURL(banning.URL))
	testutil.Eventually(t, 10*time.Second, "the banning site open on every node", func() bool {
		for _, n := range f.nodes {
			if n.tb.StateAt(site) != state.PhaseOpen {
				return false
			}
		}
		return true
	})
	for _, n := range f.nodes {
		for _, p := range farm.Proxies {
			if got := n.tb.State(p.URL()); got != state.PhaseClosed {
				t.Errorf("%s: proxy %s is %v, want closed", n.name, p.URL(), got)
			}
		}
		if _, err := n.get(ctx, banning.URL); !errors.Is(err, coord.ErrSiteUnavailable) {
			t.Errorf("%s: the banning site: %v, want ErrSiteUnavailable", n.name, err)
		}
	}
}

// TestFleetSiteDownFailsFastAndOneProbe: a site that is down (503 to
// everyone) opens fleet-wide; its requests then fail fast on every node
// without reaching a proxy; when it is back, exactly one probe fleet-wide
// finds it so, and every node closes it.
func TestFleetSiteDownFailsFastAndOneProbe(t *testing.T) {
	farm := testproxy.Start(t, 8)
	origin := testproxy.NewOrigin(t)
	var down atomic.Bool
	down.Store(true)
	var probes atomic.Int64
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(503)
			return
		}
		probes.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	doc := policy.Document{
		Retry:   policy.RetryPolicy{BaseDelay: 100 * time.Millisecond},
		Breaker: policy.BreakerPolicy{OpenTimeout: time.Second, ProbeGrace: 30 * time.Second},
	}
	f := startFleet(t, fleetOpts{size: 3, sharing: shareFleet, pool: farm.URLs(), doc: doc, fast: true, site: siteByPort})
	ctx := context.Background()
	site := state.SiteKey(siteOfURL(origin.URL))
	for i := 0; f.nodes[0].tb.StateAt(site) != state.PhaseOpen; i++ {
		if i == 20 {
			t.Fatalf("the site did not open after %d requests", i)
		}
		_, _ = f.nodes[0].get(ctx, origin.URL)
	}
	testutil.Eventually(t, 5*time.Second, "the site open on every node", func() bool {
		for _, n := range f.nodes {
			if n.tb.StateAt(site) != state.PhaseOpen {
				return false
			}
		}
		return true
	})
	before := farm.Requests()
	for _, n := range f.nodes {
		if _, err := n.get(ctx, origin.URL); !errors.Is(err, coord.ErrSiteUnavailable) {
			t.Errorf("%s: %v, want ErrSiteUnavailable", n.name, err)
		}
	}
	if got := farm.Requests() - before; got != 0 {
		t.Errorf("the open site cost %d proxy requests, want 0", got)
	}
	down.Store(false)
	// Once the open time has run out, exactly one node — the site's probe
	// owner — may probe; the others keep failing fast (for ProbeGrace,
	// 30s here) until they see its result.
	var may []*fleetNode
	testutil.Eventually(t, 10*time.Second, "a node that may probe the site", func() bool {
		may = may[:0]
		for _, n := range f.nodes {
			if n.tb.EligibleAt(site) {
				may = append(may, n)
			}
		}
		return len(may) > 0
	})
	if len(may) != 1 {
		t.Fatalf("%d nodes may probe the site, want exactly one (its probe owner)", len(may))
	}
	for _, n := range f.nodes {
		if n != may[0] {
			if _, err := n.get(ctx, origin.URL); !errors.Is(err, coord.ErrSiteUnavailable) {
				t.Errorf("%s, not the probe owner, before the probe: %v, want ErrSiteUnavailable", n.name, err)
			}
		}
	}
	if _, err := may[0].get(ctx, origin.URL); err != nil {
		t.Fatalf("the probe through %s: %v", may[0].name, err)
	}
	testutil.Eventually(t, 5*time.Second, "the site closed on every node", func() bool {
		for _, n := range f.nodes {
			if n.tb.StateAt(site) != state.PhaseClosed {
				return false
			}
		}
		return true
	})
	if got := probes.Load(); got != 1 {
		t.Errorf("requests that reached the recovered site before it closed = %d, want 1 (one probe fleet-wide)", got)
	}
}

// TestFleetManualSiteTrip: an operator's trip of a site through one node
// holds on every node: the site fails fast everywhere, other sites work.
func TestFleetManualSiteTrip(t *testing.T) {
	farm := testproxy.Start(t, 3)
	tripped, other := testproxy.NewOrigin(t), testproxy.NewOrigin(t)
	f := startFleet(t, fleetOpts{size: 3, sharing: shareFleet, pool: farm.URLs(), fast: true, site: siteByPort})
	site := state.SiteKey(siteOfURL(tripped.URL))
	f.nodes[0].tb.TripAt(site, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "the trip on every node", func() bool {
		for _, n := range f.nodes {
			if n.tb.StateAt(site) != state.PhaseOpen {
				return false
			}
		}
		return true
	})
	for _, n := range f.nodes {
		if _, err := n.get(context.Background(), tripped.URL); !errors.Is(err, coord.ErrSiteUnavailable) {
			t.Errorf("%s: tripped site: %v, want ErrSiteUnavailable", n.name, err)
		}
		if _, err := n.get(context.Background(), other.URL); err != nil {
			t.Errorf("%s: other site: %v", n.name, err)
		}
	}
	if got := tripped.Requests(); got != 0 {
		t.Errorf("the tripped site saw %d requests, want 0", got)
	}
}
