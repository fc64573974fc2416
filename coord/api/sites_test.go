package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSiteAndPairBreakers: sites and pairs are tripped, read, listed (by
// level and site) and reset through the API; /metrics counts open breakers
// by level, without a label per site.
func TestSiteAndPairBreakers(t *testing.T) {
	f := newFixture(t, Config{})
	cl, ctx := f.cl, context.Background()
	key := f.keys[0]

	b, err := cl.TripAt(ctx, "", "example.com", time.Minute, "site down")
	if err != nil || b.Level != "site" || b.Site != "example.com" || b.Upstream != "" || b.Phase != "open" || b.Eligible {
		t.Fatalf("TripAt(site) = %+v, %v", b, err)
	}
	b, err = cl.TripAt(ctx, key, "example.org", time.Minute, "banned")
	if err != nil || b.Level != "pair" || b.Site != "example.org" || b.Upstream != key || b.Phase != "open" || !b.InPool {
		t.Fatalf("TripAt(pair) = %+v, %v", b, err)
	}
	if b, err := cl.BreakerAt(ctx, key, ""); err != nil || b.Level != "proxy" || b.Phase != "closed" {
		t.Errorf("the pair's proxy = %+v, %v; want closed", b, err)
	}
	sites, err := cl.BreakersWhere(ctx, BreakerQuery{Level: "site"})
	if err != nil || len(sites) != 1 || sites[0].Site != "example.com" {
		t.Errorf("BreakersWhere(level=site) = %+v, %v", sites, err)
	}
	pairs, err := cl.BreakersWhere(ctx, BreakerQuery{State: "open", Site: "example.org"})
	if err != nil || len(pairs) != 1 || pairs[0].Level != "pair" {
		t.Errorf("BreakersWhere(open, site=example.org) = %+v, %v", pairs, err)
	}
	if all, err := cl.Breakers(ctx, ""); err != nil || len(all) != 5 {
		t.Errorf("Breakers = %d, %v; want the 3 proxies, the pair and the site", len(all), err)
	}
	_, metrics, _ := f.call(t, "GET", "/metrics", "", "")
	for _, want := range []string{`retrycoord_breakers_open{level="site"} 1`, `retrycoord_breakers_open{level="pair"} 1`, `retrycoord_breakers_open{level="proxy"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "example.com") {
		t.Errorf("/metrics names a site: a label per site is not added")
	}
	var se *Error
	if _, err := cl.SelectFor(ctx, SelectRequest{Site: "example.com"}); !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || !strings.Contains(se.Message, "site down") {
		t.Errorf("select for the open site: %v, want 503 with its reason", err)
	}
	if s, err := cl.SelectFor(ctx, SelectRequest{Site: "example.org", Exclude: f.keys[1:]}); err == nil {
		t.Errorf("select for example.org chose %s: its only other candidate's pair is open", s.Upstream)
	}
	// Reports with a site land on the pair: five bans open it, not the proxy.
	for range 5 {
		if _, err := cl.Report(ctx, ReportRequest{Upstream: f.keys[1], Site: "banned.net", Outcome: "ban", Status: 403}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := cl.BreakerAt(ctx, f.keys[1], "banned.net"); err != nil || b.Phase != "open" {
		t.Errorf("the reported pair = %+v, %v; want open", b, err)
	}
	if b, err := cl.BreakerAt(ctx, f.keys[1], ""); err != nil || b.Phase != "closed" {
		t.Errorf("the reported proxy = %+v, %v; want closed", b, err)
	}
	if b, err := cl.ResetAt(ctx, "", "example.com"); err != nil || b.Phase != "closed" {
		t.Errorf("ResetAt(site) = %+v, %v", b, err)
	}
	if b, err := cl.ResetAt(ctx, key, "example.org"); err != nil || b.Phase != "closed" {
		t.Errorf("ResetAt(pair) = %+v, %v", b, err)
	}
	var ae *Error
	if _, err := cl.BreakersWhere(ctx, BreakerQuery{Level: "planet"}); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("level=planet: %v, want 400", err)
	}
	if _, err := cl.TripAt(ctx, "", "a b", 0, ""); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("a site with a space: %v, want 400", err)
	}
	if _, err := cl.TripAt(ctx, "http://10.9.9.9:1", "example.org", 0, ""); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("a pair of an unknown upstream: %v, want 404", err)
	}
}
