package client

import "context"

// Budgets is a node's view of the retry budgets and its hedging counters
// (GET /v1/budgets).
type Budgets struct {
	// Members is how many members the budget's floor is split by.
	Members int `json:"members"`
	// Exhausted counts retries refused because a site's budget was spent.
	Exhausted uint64 `json:"exhausted"`
	// Hedges are this node's hedging counters.
	Hedges Hedges `json:"hedges"`
	// Sites lists every site with counts in the window, by name.
	Sites []SiteBudget `json:"sites"`
}

// Hedges counts what hedging did on a node.
type Hedges struct {
	Sent    uint64 `json:"sent"`
	Won     uint64 `json:"won"`      // answered before the attempt they hedged
	Refused uint64 `json:"refused"`  // not sent: the retry budget was spent
	NoProxy uint64 `json:"no_proxy"` // not sent: no other eligible proxy
}

// SiteBudget is one site's retry budget over the policy's window, as one
// node sees the fleet.
type SiteBudget struct {
	Site    string  `json:"site"`
	Firsts  uint64  `json:"firsts"`  // first attempts, fleet-wide (this node's with budget_local)
	Retries uint64  `json:"retries"` // retries and hedges, likewise
	Allowed float64 `json:"allowed"` // ratio × firsts + this node's share of the floor
	Left    float64 `json:"left"`    // retries this node may still make
}

// Budgets returns the node's retry budgets per site and hedging counters.
func (c *Client) Budgets(ctx context.Context) (Budgets, error) {
	var b Budgets
	return b, c.do(ctx, "GET", "/v1/budgets", nil, &b)
}
