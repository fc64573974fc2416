package api

import (
	"fmt"
	"net/http"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/policy"
)

func (h *Handler) upstream(u *coord.Upstream) Upstream {
	tb := h.c.Table()
	st := u.Stats()
	return Upstream{
		Upstream:    u.Key(),
		URL:         u.URL().Redacted(),
		Region:      u.Region(),
		Meta:        u.Meta(),
		Phase:       tb.State(u.Key()).String(),
		Eligible:    tb.Eligible(u.Key()),
		Outcomes:    st.Outcomes,
		SuccessRate: st.SuccessRate,
		MeanLatency: st.MeanLatency.String(),
	}
}

func (h *Handler) listPool(w http.ResponseWriter, _ *http.Request) {
	out := []Upstream{}
	for _, u := range h.c.Upstreams() {
		out = append(out, h.upstream(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) addUpstream(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if !decode(w, r, &req) {
		return
	}
	if req.URL == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: url is required")
		return
	}
	u, err := h.c.Add(coord.PoolEntry{URL: req.URL, Meta: req.Meta})
	if err != nil {
		// ParseUpstream's errors redact the password.
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	h.logger.Info("upstream added through the API", "upstream", u.Key())
	writeJSON(w, http.StatusCreated, h.upstream(u))
}

// updatePool adds and removes upstreams as one change: a bad entry, or a
// key both added and removed, is answered 400 naming it, and nothing
// changes.
func (h *Handler) updatePool(w http.ResponseWriter, r *http.Request) {
	var req PoolUpdateRequest
	if !decodeUpTo(w, r, MaxPoolBody, &req) {
		return
	}
	ch := coord.PoolChange{Add: make([]coord.PoolEntry, len(req.Add)), Remove: req.Remove}
	for i, a := range req.Add {
		if a.URL == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("api: add[%d]: url is required", i))
			return
		}
		ch.Add[i] = coord.PoolEntry{URL: a.URL, Meta: a.Meta}
	}
	done, err := h.c.UpdatePool(ch)
	if err != nil {
		// ParseUpstream's errors redact the password.
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	h.logger.Info("pool changed through the API", "added", done.Added, "replaced", done.Replaced,
		"unchanged", done.Unchanged, "removed", done.Removed)
	writeJSON(w, http.StatusOK, PoolUpdate(done))
}

func (h *Handler) removeUpstream(w http.ResponseWriter, r *http.Request) {
	key := normalizeKey(r.PathValue("upstream"))
	if h.c.Upstream(key) == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("api: upstream %q is not in the pool", key))
		return
	}
	h.c.Remove(key)
	h.logger.Info("upstream removed through the API", "upstream", key)
	w.WriteHeader(http.StatusNoContent)
}

// getPolicy answers the document as set (zero fields left out), or with
// ?effective=true every default filled in.
func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request) {
	d := h.c.Document()
	if v := r.URL.Query().Get("effective"); v == "true" || v == "1" {
		d = d.WithDefaults()
	}
	writeDocument(w, d)
}

func writeDocument(w http.ResponseWriter, d policy.Document) {
	b, err := d.MarshalJSON()
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "api: cannot encode the policy: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

func (h *Handler) patchPolicy(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: a JSON merge patch body is required")
		return
	}
	d, err := h.c.Document().Patch(body)
	if err == nil {
		err = h.c.SetDocument(d)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	h.logger.Info("policy updated through the API")
	writeDocument(w, h.c.Document())
}
