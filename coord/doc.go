// Package coord is the coordinator a scraper embeds: it chooses an upstream
// proxy for every attempt, retries failed requests through other proxies
// with backoff, respects per-upstream circuit breakers shared by the fleet,
// classifies outcomes (bans included) and records what happened.
//
// It owns the pool of upstreams (parsed from http, https and socks5 URLs,
// keyed "scheme://host:port" without credentials), the selector (score =
// SuccessWeight·success_rate + LatencyWeight·(1 − latency/max_latency) over
// each upstream's last Window outcomes, ×RegionBonus for a matching region,
// capped at 1; strategies p2c, best, round-robin and random), the retry
// executor (Coordinator.Do and Coordinator.Transport), the Classifier and
// the Recorder. It does not own breaker state (package state), policies
// (package policy), how records travel (cluster and redisledger subscribe
// to the same state.Table; coord imports neither), the admin API or the
// forward proxy (coord/api, coord/forward).
//
// # Semantics
//
// Every attempt selects an eligible upstream (read-only: Table.Eligible),
// preferring ones this request has not tried; only the chosen one is
// admitted (Table.Admit), and its ticket is always settled — as abandoned
// when the caller's context ends or the request function panics (the panic
// is re-raised). Connect errors, timeouts, 407, the policy's RetryStatus and
// bans (403/429 by default, plus Classifier.IsBan) are failures for the
// upstream and are retried elsewhere after the policy's backoff, or after
// Retry-After (seconds or HTTP-date) up to MaxDelay. The waits come from a
// go-retry Backoff (Config.Backoff; default policy.DefaultBackoff) decorated
// per request (policy.RetryPolicy.WithRequestRules): Retry-After, the cap
// MaxDelay, and the request's Timeout — a wait that would reach it ends the
// request at once, so no attempt starts past it. Other statuses are the
// caller's answer. A RetryStatus answer in which the proxy reports that
// the target failed (Proxy-Status, RFC 9209; squid's X-Squid-Error) is
// ClassTarget: retried, but counted against no proxy's breaker. A SOCKS5
// authentication failure is proxy_auth like a 407, and an upstream that
// refused our credentials is not tried again by the same request.
// Non-idempotent methods are retried only after an attempt that provably
// sent nothing (ErrNotSent: connection refused, TLS to the proxy failed, a
// reused connection found closed before the request was written); requests
// whose body is larger than MaxReplayBody get one attempt. Errors:
// ErrNoUpstream when nothing is eligible, at once or when the last eligible
// upstream's breaker opened while the request waited to retry (then it
// wraps the last attempt's error); *GiveUpError when the attempts ran out;
// the context's error as is; fatal request errors (Fatal) as is.
//
// Retry budget and hedging (policy.RetryPolicy.Budget and Hedge): a request
// with a site counts its first attempt against the site's budget, and every
// retry after a failure the site saw (not one after a proxy-level fault) is
// charged to it first (state.Table.ChargeRetry, fleet-wide); when the budget
// is spent the request ends with its last answer, Result.BudgetExhausted set
// (Transport adds HeaderBudget: exhausted), or a *GiveUpError with
// BudgetExhausted when there was no answer. With Hedge on, an idempotent,
// replayable request with a site whose answer is late — after Hedge.Delay,
// or the site's fleet-merged latency at Hedge.Quantile once 20 answers are
// known — is sent again through another eligible proxy, charged to the
// budget, at most MaxHedges times; the first success wins, the others are
// cancelled and settled as abandoned (ReasonHedgeLost). The request
// function is then called concurrently.
//
// Transport adds no User-Agent when the request has none (net/http would
// send "Go-http-client/1.1"), on CONNECT to upstreams either. A keep-alive
// race — a reused connection the proxy had closed, found so before the
// request left — is not the proxy's failure: the request is sent again at
// once within the same attempt. Requests that may not be retried once sent
// use a new connection to an upstream until it has shown that it keeps
// connections alive (some proxies, such as tinyproxy, close every
// connection after their answer without saying so). A proxy's refusal of
// the CONNECT net/http sends for an https target is a *ConnectError with
// the proxy's status and header, classified like any other answer.
//
// The initial Config.Pool is this node's own; Add, Remove and SetDocument
// also write facts to the Table, which the cluster and the ledger send out
// like any change of the table, and Run applies the pool and policy facts
// other nodes write. New takes its pool as one batch, and Run all the pool
// facts that changed since it last looked: a pool of 100,000 loads in
// under a second either way. A pool fact's
// value is the JSON {"url", "meta"} with the URL's credentials, so that
// other nodes can dial it: encrypt gossip and protect the ledger.
//
// p2c samples two eligible upstreams at random (a bounded number of draws,
// then a scan) and takes the higher score, treating scores within 0.05 as
// a tie and ignoring scores on one choice in eight, so that equally good
// upstreams share load and one slow outlier does not starve an upstream.
// Its max_latency is the pool's, cached and refreshed by a scan at most
// every 100ms. best scans the whole pool (O(pool), tens of µs at 1,000);
// round-robin and random scan only past ineligible upstreams.
//
// # Concurrency
//
// A Coordinator is safe for concurrent use. Do, Transport and Select take
// no coordinator-wide lock: the pool is an immutable snapshot replaced on
// change, per-upstream statistics have their own tiny lock with lock-free
// reads, and the Recorder takes one short lock per attempt. Run owns the
// only goroutine the package starts; Close stops it and waits.
//
// # Usage
//
//	c, err := coord.New(coord.Config{
//		Pool: coord.Entries("http://user:pw@10.0.0.1:8080", "socks5://10.0.0.2:1080"),
//	})
//	if err != nil { ... }
//	go c.Run(ctx)
//	defer c.Close()
//	client := &http.Client{Transport: c.Transport(nil)}
//	resp, err := client.Get("https://example.com/")
//	var gu *coord.GiveUpError
//	switch {
//	case errors.Is(err, coord.ErrNoUpstream): // every breaker open
//	case errors.As(err, &gu): // gu.Attempts, gu.Last
//	}
package coord
