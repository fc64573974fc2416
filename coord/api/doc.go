// Package api is retrycoord's admin HTTP API over a coord.Coordinator. Its
// typed Go client and the JSON forms live in package client (aliased in
// wire.go), which a thin client imports without this server.
//
// It owns the routes, authentication of
// writes, the Server-Sent Events stream of transitions, the Prometheus
// exposition at /metrics and the live view at /ui/. It does not own the coordinator, the table, the
// cluster or the ledger: membership and extra figures come in through the
// small interfaces Members and StatsSource, so this package imports
// neither cluster nor redisledger.
//
// # Routes
//
//	GET    /v1/health                       {"status":"ok","node","version","mitm_ca_sha256"}
//	GET    /v1/ready                        200, or 503 with a reason
//	GET    /v1/members                      the fleet (Config.Members)
//	GET    /v1/breakers[?state=open|half-open|closed]
//	GET    /v1/breakers/{upstream}          404 for an unknown upstream
//	POST   /v1/breakers/{upstream}/trip     {"for":"5m","reason":"…"} (write)
//	POST   /v1/breakers/{upstream}/reset    (write)
//	GET    /v1/policy[?effective=true]       as set, or with every default filled
//	PATCH  /v1/policy                       JSON merge patch, validated whole (write)
//	GET    /v1/pool                         URLs redacted
//	POST   /v1/pool                         {"url","meta"} (write)
//	PATCH  /v1/pool                         {"add":[{"url","meta"}…],"remove":[…]} one change, all or nothing (write)
//	DELETE /v1/pool/{upstream}              (write)
//	POST   /v1/select                       {"region","exclude"} → proxy URL with credentials (write)
//	POST   /v1/report                       {"upstream","outcome","status","latency"} (write)
//	GET    /v1/metrics/summary
//	GET    /v1/metrics/timeseries?hours=N   N 1–168, default 24
//	GET    /v1/metrics/proxies?hours=N
//	GET    /v1/metrics/events?hours=N
//	GET    /v1/events                       text/event-stream, "event: transition"
//	GET    /v1/view                         the live view's snapshot: fleet with delays, pool, breakers, feed, budgets
//	GET    /ui/                             the live view (HTML, CSS, JS modules embedded here)
//	GET    /v1/keys                         gossip key fingerprints (token; Config.Keyring)
//	POST   /v1/keys                         {"key":"base64"} install (write)
//	POST   /v1/keys/use                     {"key":"base64"} make primary (write)
//	DELETE /v1/keys                         {"key":"base64"} remove; not the primary (write)
//	GET    /metrics                         Prometheus
//
// {upstream} is a key such as "http://10.0.0.1:3128" escaped as one path
// segment (url.PathEscape); a proxy URL is accepted too and read as its key.
// Trips, resets, policy and pool changes reach the fleet by themselves: the
// coordinator writes them to its table, whose Run hands them to gossip and
// the ledger.
//
// # The live view
//
// /ui/ is a page of plain HTML, CSS and JavaScript modules (directory ui,
// embedded with go:embed; no build step, nothing fetched from elsewhere, a
// Content-Security-Policy of 'self'). It loads GET /v1/view, follows
// GET /v1/events, and refreshes the snapshot every 5 s and when the pool
// changes: the members with the delay of each one's records to this node
// (last, p50 and p95 of its last 64), a proxies × sites grid whose cells
// carry their state by colour and symbol (open ●, half-open ◐, closed ○),
// with the proxy's recent success rate and p95 latency on that site on
// hover, and draws only what is visible, why each breaker that is not
// closed is so (with how many nodes' evidence it opened on) and who probes
// it when, the last 200 transitions, and each site's retry budget with the
// node's hedging counters (also on the site's column header). It is read-only
// without a token; Trip and Reset send the token the user typed, kept in
// sessionStorage (this tab) only, at every level: proxy, pair and site.
// While no site has a breaker, the grid has one column, the proxies' own
// breakers.
//
// Errors are {"error":{"code","message"}} with the HTTP status: 400 for bad
// input and unknown JSON fields, 401 (with WWW-Authenticate) for a missing
// or wrong token, 403 for writes when no token is configured, 404, 405 with
// Allow, 413 for bodies over MaxBody (MaxPoolBody for PATCH /v1/pool), 503 when no upstream is eligible.
// Reads are open; writes and select need "Authorization: Bearer <token>"
// unless Config.Dev. Tokens are compared in constant time and never logged;
// pool URLs are shown redacted, except by select, whose caller dials them.
//
// # Concurrency
//
// A Handler is safe for concurrent use. NewHandler starts one goroutine
// (a table subscription counting transitions for /metrics) and every event
// stream holds its own subscription; Close ends the streams and the
// goroutine and waits for them. Close the Handler after the http.Server has
// stopped accepting, or before http.Server.Shutdown so that streams end. A
// Client is safe for concurrent use.
//
// # Usage
//
//	h, err := api.NewHandler(api.Config{Coordinator: c, Token: token, Version: version})
//	if err != nil { ... }
//	defer h.Close()
//	srv := &http.Server{Addr: "127.0.0.1:7947", Handler: h}
//
//	cl := client.New("http://127.0.0.1:7947", token, nil) // package coord/api/client
//	b, err := cl.Trip(ctx, "http://10.0.0.1:3128", 5*time.Minute, "maintenance")
//	var ae *api.Error
//	if errors.As(err, &ae) && ae.Status == http.StatusNotFound { ... }
package api
