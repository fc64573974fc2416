package client

import (
	"context"
	"time"
)

// View is the answer of GET /v1/view: everything the live view (/ui/)
// draws when it loads and every 5 s after; the event stream carries the
// changes in between.
type View struct {
	Node    string    `json:"node"` // the node that answered
	Version string    `json:"version,omitempty"`
	Time    time.Time `json:"time"` // the node's wall clock when it answered
	// Members is the fleet as this node sees it, sorted by name.
	Members []FleetMember `json:"members"`
	// Proxies is this node's pool, sorted by key, with figures from its
	// recent attempts.
	Proxies []ProxyView `json:"proxies"`
	// Breakers holds every breaker with a record (any phase, any level),
	// sorted by key; a pool proxy without one is closed and pristine.
	Breakers []BreakerView `json:"breakers"`
	// Feed is the last breaker transitions the node's API saw since it
	// started (at most FeedSize), oldest first, as GET /v1/events streams
	// them.
	Feed []Transition `json:"feed"`
	// Budgets is the retry budget per site and the hedging counters, as
	// GET /v1/budgets answers at the same moment.
	Budgets Budgets `json:"budgets"`
}

// FeedSize is the most transitions View.Feed carries, and the length of
// the live view's feed.
const FeedSize = 200

// FleetMember is one member of the fleet with the delay of its records to
// the node that answered.
type FleetMember struct {
	Member
	// Self marks the node that answered.
	Self bool `json:"self,omitempty"`
	// Delay is how long this member's records took to change the answering
	// node's table, from the member's clock; nil for the node itself and
	// for a member none of whose records arrived recently.
	Delay *Delay `json:"delay,omitempty"`
}

// Delay summarizes the propagation delays of a member's last records
// (at most DelayWindow of them), in milliseconds.
type Delay struct {
	Records int     `json:"records"` // records measured
	LastMS  float64 `json:"last_ms"` // the most recent one
	P50MS   float64 `json:"p50_ms"`
	P95MS   float64 `json:"p95_ms"`
}

// DelayWindow is how many of a member's most recent records a Delay
// summarizes.
const DelayWindow = 64

// ProxyView is one pool proxy with figures over this node's recent
// attempts through it (the recorder's last 10,000 attempts).
type ProxyView struct {
	Upstream    string  `json:"upstream"` // the key
	Region      string  `json:"region,omitempty"`
	Attempts    int     `json:"attempts"`     // recent attempts through it
	SuccessRate float64 `json:"success_rate"` // over those attempts (0 when none)
	P95MS       float64 `json:"p95_ms"`       // 95th percentile latency of those attempts, ms
	// Sites holds the same figures per site, over those of the attempts
	// that counted against a site, sorted by site; only sites with
	// attempts appear.
	Sites []SiteFigures `json:"sites,omitempty"`
}

// SiteFigures is a proxy's figures on one site: over this node's recent
// attempts through the proxy that counted against the site.
type SiteFigures struct {
	Site        string  `json:"site"`
	Attempts    int     `json:"attempts"`
	SuccessRate float64 `json:"success_rate"` // over those attempts
	P95MS       float64 `json:"p95_ms"`       // 95th percentile latency of those attempts, ms
}

// BreakerView is a breaker as the live view shows it: the record (of any
// level) and who may probe it when.
type BreakerView struct {
	Breaker
	// ProbeAt is when an open breaker's open time runs out on the answering
	// node, by its clock, and its probe owner may probe it (zero unless
	// open).
	ProbeAt time.Time `json:"probe_at,omitzero"`
	// ProbeOwner is the node that probes it when its open time runs out
	// ("" unless open or half-open, or when the answering node cannot tell).
	ProbeOwner string `json:"probe_owner,omitempty"`
	// Reporters is how many nodes' failures count against it on the
	// answering node: while closed, the nodes (itself included) with a
	// failure in the current window; while open or half-open, how many
	// that was when it opened there (0 after an operator's trip there).
	Reporters int `json:"reporters,omitempty"`
}

// View returns GET /v1/view.
func (c *Client) View(ctx context.Context) (View, error) {
	var v View
	err := c.do(ctx, "GET", "/v1/view", nil, &v)
	return v, err
}
