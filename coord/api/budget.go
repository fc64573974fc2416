package api

import (
	"net/http"

	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// Budgets and hedging figures: GET /v1/budgets.
type (
	Budgets    = client.Budgets
	Hedges     = client.Hedges
	SiteBudget = client.SiteBudget
)

func (h *Handler) budgets(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.budgetView())
}

// budgetView is what GET /v1/budgets returns.
func (h *Handler) budgetView() Budgets {
	st := h.c.BudgetStats()
	out := Budgets{
		Members:   h.c.Table().Members(),
		Exhausted: st.Exhausted,
		Hedges:    Hedges{Sent: st.HedgesSent, Won: st.HedgesWon, Refused: st.HedgesRefused, NoProxy: st.HedgesNoProxy},
		Sites:     []SiteBudget{},
	}
	for _, s := range h.c.SiteBudgets() {
		if s.Firsts == 0 && s.Retries == 0 {
			continue
		}
		out.Sites = append(out.Sites, SiteBudget{Site: s.Site, Firsts: s.Firsts, Retries: s.Retries, Allowed: s.Allowed, Left: s.Left})
	}
	return out
}
