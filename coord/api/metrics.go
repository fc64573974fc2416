package api

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proxywhirl/retrycoord/coord"
)

// newMetrics returns the /metrics handler over a private registry.
func (h *Handler) newMetrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{h: h, hours: map[time.Time]coord.HourStats{}},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descRequests    = prometheus.NewDesc("retrycoord_requests_total", "Requests made through the coordinator (first attempts).", nil, nil)
	descAttempts    = prometheus.NewDesc("retrycoord_attempts_total", "Attempts by outcome (success, failure, ban, fatal, abandoned, target) and reason.", []string{"outcome", "reason"}, nil)
	descLatency     = prometheus.NewDesc("retrycoord_attempt_latency_seconds", "Latency of attempts.", nil, nil)
	descBreakers    = prometheus.NewDesc("retrycoord_breakers", "Breakers listed by the API (pool upstreams and other tripped ones) by phase.", []string{"phase"}, nil)
	descOpen        = prometheus.NewDesc("retrycoord_breaker_open", "1 when the upstream's (proxy-level) breaker is open or half-open, else 0.", []string{"upstream"}, nil)
	descOpenLevel   = prometheus.NewDesc("retrycoord_breakers_open", "Breakers open or half-open, by level: proxy, pair (a proxy for one site) or site. Per-site figures are in the API, not in labels.", []string{"level"}, nil)
	descPairs       = prometheus.NewDesc("retrycoord_table_pairs", "(proxy, site) pairs the table holds.", nil, nil)
	descPairsEvict  = prometheus.NewDesc("retrycoord_pairs_evicted_total", "Pairs removed because the table held more than MaxPairs.", nil, nil)
	descTransitions = prometheus.NewDesc("retrycoord_breaker_transitions_total", "Breaker transitions seen since the API started, by phase entered and source.", []string{"to", "source"}, nil)
	descPool        = prometheus.NewDesc("retrycoord_pool_upstreams", "Upstreams in this node's pool.", nil, nil)
	descDrops       = prometheus.NewDesc("retrycoord_subscription_drops_total", "Table transitions a full subscription could not take.", nil, nil)
	descTable       = prometheus.NewDesc("retrycoord_table_breakers", "Breakers the table holds (pristine ones included until evicted).", nil, nil)
	descStale       = prometheus.NewDesc("retrycoord_stale_settles_total", "Settles ignored because the breaker had moved on.", nil, nil)
	descEvicted     = prometheus.NewDesc("retrycoord_evicted_breakers_total", "Idle pristine breakers evicted.", nil, nil)
	descSkew        = prometheus.NewDesc("retrycoord_hlc_clamped_total", "Remote clock readings clamped for being too far ahead.", nil, nil)
	descAhead       = prometheus.NewDesc("retrycoord_evidence_ahead_dropped_total", "Evidence buckets dropped for being more than MaxSkew ahead of this node's clock.", nil, nil)
	descBadFacts    = prometheus.NewDesc("retrycoord_bad_facts_total", "Pool and policy facts that could not be decoded.", nil, nil)
	descExhausted   = prometheus.NewDesc("retrycoord_budget_exhausted_total", "Retries refused because the site's retry budget was spent (the last answer was returned). Per-site budgets are in the API (/v1/budgets), not in labels.", nil, nil)
	descHedges      = prometheus.NewDesc("retrycoord_hedges_total", "Hedges by result: sent, won (answered first), refused (budget spent), no_proxy (no other eligible proxy).", []string{"result"}, nil)
	descBudgetSites = prometheus.NewDesc("retrycoord_budget_sites", "Sites with retry budget counts in the window.", nil, nil)
	descBudgetDrop  = prometheus.NewDesc("retrycoord_budget_dropped_total", "Budget counts and latency sketches from other nodes dropped (bounds, bad input).", nil, nil)
	descBuild       = prometheus.NewDesc("retrycoord_build_info", "Always 1; labelled with the version and node.", []string{"version", "node"}, nil)
)

// collector reads the coordinator at scrape time. The recorder keeps
// hourly aggregates for 24h only, so the attempt counters add up every hour
// ever scraped: they stay monotonic as long as scrapes are less than 24h
// apart.
type collector struct {
	h *Handler

	mu      sync.Mutex                    // guards hours and retired
	hours   map[time.Time]coord.HourStats // last seen aggregate of each kept hour
	retired coord.HourStats               // sum of the hours no longer kept
	retFail map[string]uint64             // retired failures by reason
	retLat  time.Duration                 // retired latency sum
}

// Describe sends nothing: the collector is unchecked, since StatsSource
// figures are only known at scrape time.
func (*collector) Describe(chan<- *prometheus.Desc) {}

// attemptTotals returns the all-time sums of the hourly aggregates.
func (c *collector) attemptTotals() (tot coord.HourStats, latSum time.Duration) {
	ts, _ := c.h.c.Recorder().TimeSeries(coord.HoursKept)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retFail == nil {
		c.retFail = map[string]uint64{}
	}
	now := map[time.Time]coord.HourStats{}
	for _, s := range ts {
		now[s.Hour] = s
	}
	for hr, s := range c.hours {
		if _, kept := now[hr]; !kept {
			addHour(&c.retired, c.retFail, s)
			c.retLat += s.MeanLatency * time.Duration(s.Attempts)
		}
	}
	c.hours = now
	tot = c.retired
	tot.Failures = maps.Clone(c.retFail)
	latSum = c.retLat
	for _, s := range now {
		addHour(&tot, tot.Failures, s)
		latSum += s.MeanLatency * time.Duration(s.Attempts)
	}
	return tot, latSum
}

func addHour(dst *coord.HourStats, fails map[string]uint64, s coord.HourStats) {
	dst.Requests += s.Requests
	dst.Attempts += s.Attempts
	dst.Successes += s.Successes
	for k, v := range s.Failures {
		fails[k] += v
	}
}

// outcomeOf names the outcome of failed attempts of a reason.
func outcomeOf(reason string) string {
	switch reason {
	case "ban":
		return "ban"
	case "fatal":
		return "fatal"
	case "canceled", "panic", "hedge_lost":
		return "abandoned"
	case "target":
		return "target"
	}
	return "failure"
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	co := c.h.c
	tb := co.Table()
	tot, latSum := c.attemptTotals()
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(tot.Requests))
	ch <- prometheus.MustNewConstMetric(descAttempts, prometheus.CounterValue, float64(tot.Successes), "success", "none")
	for _, reason := range slices.Sorted(maps.Keys(tot.Failures)) {
		ch <- prometheus.MustNewConstMetric(descAttempts, prometheus.CounterValue, float64(tot.Failures[reason]), outcomeOf(reason), reason)
	}
	ch <- prometheus.MustNewConstSummary(descLatency, tot.Attempts, latSum.Seconds(), nil)

	phases := map[string]int{"open": 0, "half-open": 0, "closed": 0}
	levels := map[string]int{"proxy": 0, "pair": 0, "site": 0}
	for _, b := range c.h.breakers() {
		phases[b.Phase]++
		open := 0.0
		if b.Phase != "closed" {
			open = 1
			levels[b.Level]++
		}
		if b.Level == "proxy" {
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, open, b.Upstream)
		}
	}
	for l, n := range levels {
		ch <- prometheus.MustNewConstMetric(descOpenLevel, prometheus.GaugeValue, float64(n), l)
	}
	for p, n := range phases {
		ch <- prometheus.MustNewConstMetric(descBreakers, prometheus.GaugeValue, float64(n), p)
	}
	for k, n := range c.h.counts.snapshot() {
		ch <- prometheus.MustNewConstMetric(descTransitions, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	st := tb.Stats()
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(len(co.Upstreams())))
	ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descTable, prometheus.GaugeValue, float64(st.Breakers))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.CounterValue, float64(st.StaleSettles))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(st.Evicted))
	ch <- prometheus.MustNewConstMetric(descPairs, prometheus.GaugeValue, float64(st.Pairs))
	ch <- prometheus.MustNewConstMetric(descPairsEvict, prometheus.CounterValue, float64(st.PairsEvicted))
	ch <- prometheus.MustNewConstMetric(descSkew, prometheus.CounterValue, float64(st.SkewClamped))
	ch <- prometheus.MustNewConstMetric(descAhead, prometheus.CounterValue, float64(st.EvidenceAhead))
	ch <- prometheus.MustNewConstMetric(descBadFacts, prometheus.CounterValue, float64(co.BadFacts()))
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.h.cfg.Version, tb.Node())
	bv := c.h.budgetView()
	ch <- prometheus.MustNewConstMetric(descExhausted, prometheus.CounterValue, float64(bv.Exhausted))
	for result, n := range map[string]uint64{"sent": bv.Hedges.Sent, "won": bv.Hedges.Won, "refused": bv.Hedges.Refused, "no_proxy": bv.Hedges.NoProxy} {
		ch <- prometheus.MustNewConstMetric(descHedges, prometheus.CounterValue, float64(n), result)
	}
	ch <- prometheus.MustNewConstMetric(descBudgetSites, prometheus.GaugeValue, float64(len(bv.Sites)))
	ch <- prometheus.MustNewConstMetric(descBudgetDrop, prometheus.CounterValue, float64(st.BudgetDropped))
	for _, src := range c.h.cfg.Stats {
		for _, s := range src.CollectStats() {
			if m, ok := statMetric(s); ok {
				ch <- m
			}
		}
	}
}

// statMetric converts a Stat; a bad name or label is skipped.
func statMetric(s Stat) (prometheus.Metric, bool) {
	names := slices.Sorted(maps.Keys(s.Labels))
	values := make([]string, len(names))
	for i, n := range names {
		values[i] = s.Labels[n]
	}
	vt := prometheus.CounterValue
	if s.Kind == Gauge {
		vt = prometheus.GaugeValue
	}
	help := s.Help
	if strings.TrimSpace(help) == "" {
		help = s.Name
	}
	m, err := prometheus.NewConstMetric(prometheus.NewDesc(s.Name, help, names, nil), vt, s.Value, values...)
	return m, err == nil
}
