// Package state owns retrycoord's breaker state: the circuit breaker, the
// concurrent Table of breakers keyed by level — a proxy, a (proxy, site)
// pair, a site (Key, Level) — with the roll-ups between them, the
// wire-independent Record with its max-register merge, the hybrid logical
// clock, fleet-wide failure evidence, retry budgets and latency sketches
// per site, and snapshots.
//
// It does not own how records travel (package cluster gossips them; package
// redisledger stores them) nor what an outcome is (package coord classifies
// responses). Both feed the same Table.Merge, and both learn of changes
// through Table.Subscribe.
//
// # Semantics
//
// A breaker opens when FailureThreshold failures fall within the rolling
// Window (kept in 60 fixed buckets plus one, so a failure exactly Window old
// still counts) at a failure ratio of at least MinFailureRate (calls are
// counted from the window's first failure), when an optional failure or
// slow-call rate is reached, or when the fleet's failures and calls, merged
// from other nodes' Evidence, reach FleetThreshold from at least
// MinReporters nodes at that ratio.
//
// Retry budgets (budget.go): CountFirst and ChargeRetry count a site's
// first attempts and retries in one-second buckets, grow-only per node;
// BudgetCounts and MergeBudget carry them between nodes (max per origin
// and bucket, sum across origins). A retry is granted while the fleet's
// retries granted by the ratio stay within Ratio of the fleet's first
// attempts, else from this node's share of the floor, MinPerSecond divided
// by Members (which the cluster sets, counting members lost recently).
// Latency per site (latency.go) is a DDSketch at 1% relative accuracy:
// AddLatency, LatencySketches and MergeLatency (the newest sketch per
// origin), read with LatencyQuantile.
//
// Levels: AdmitScoped and SettleScoped admit and settle one call through a
// proxy for a site. A proxy-level failure counts on the proxy; a pair-level
// one on the (proxy, site) pair, created by its first failure, and on the
// site. A pair is blamed only when it fails the site more than the rest of
// the pool does; a proxy also opens when its pairs opened on SpreadSites
// sites; a site opens when it fails through SpreadProxies proxies at
// SiteFailureRate, and then fails every call for it fast. After OpenTimeout (grown
// by OpenBackoff on consecutive trips) the probe owner — see
// Table.SetProbeOwner — moves it to half-open and gets HalfOpenProbes probe
// permits; one success closes it, one failure re-opens it in a new
// generation. A permit not settled within ProbeLease is returned.
//
// Reading is not acquiring: State, Eligible, Record and Snapshot take
// nothing. Only Admit takes a probe permit, and every Ticket it hands out
// must be settled once; a ticket from an earlier phase is ignored, and
// OutcomeAbandoned returns a permit without counting anything.
//
// Every transition becomes a Record. Records merge as a max-register over
// (Gen, Phase, HLC, Origin): a trip writes the highest generation seen plus
// one, so it beats every close it has seen, and a close carries the
// generation it closes, so it never undoes an open it has not seen. Pool
// entries and the policy document travel as records too (facts), ordered by
// HLC with ties broken by Origin.
//
// # Concurrency
//
// A Table is safe for concurrent use. The closed-state hot path (Admit, then
// Settle with a success) takes no lock, reads no clock and allocates
// nothing. Each breaker has its own lock; while it is held nothing is sent,
// called back or logged above Debug. Transitions are published after the lock
// is released, to bounded Subscriptions that drop (count, and signal on
// Missed) rather than block; a reader that must not miss a fact catches up
// with FactsSince. A Table starts no goroutines.
//
// # Usage
//
//	tb, err := state.NewTable(state.Config{Node: "node-1"})
//	if err != nil { ... }
//	tk, err := tb.Admit("http://10.0.0.1:8080")
//	if errors.Is(err, state.ErrOpen) { /* choose another upstream */ }
//	resp, err := call()
//	tb.Settle(tk, outcomeOf(resp, err), latency)
package state
