// Package forward is retrycoord's HTTP forward proxy: any client that can
// use an HTTP proxy (HTTP_PROXY, curl -x, a scraper in any language) sends
// its requests to it, and a coord.Coordinator carries them through the
// fleet's upstream proxies with retries, failover and shared breakers.
//
// It owns the client side of the proxy: parsing proxy requests, client
// authentication (Basic Proxy-Authorization), hop-by-hop header handling
// (RFC 9110 §7.6.1: Connection and the fields it lists, Proxy-Connection,
// Keep-Alive, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding and Upgrade are removed both ways; Via is added),
// establishing CONNECT tunnels through upstream proxies and splicing them.
// It does not own selection, retries, classification or breakers (package
// coord), nor binding the listener in the agent, nor metrics export (Stats
// gives the counters to whoever exports them).
//
// # Semantics
//
// An absolute-form request (GET http://host/path, or https://) goes
// through Coordinator.Transport over Config.Base: each attempt goes through
// an upstream chosen by the coordinator; request bodies up to the
// coordinator's MaxReplayBody are buffered and sent again on a retry. The
// response carries coord.HeaderAttempts and coord.HeaderUpstream (the
// upstream's key, never its credentials); its body is streamed, flushed
// after every read for event streams and bodies of unknown length.
//
// A CONNECT host:port is established through an upstream proxy with
// Coordinator.Do: every attempt dials the chosen upstream (TLS first for an
// https upstream; its URL's credentials become Proxy-Authorization; socks5
// upstreams through golang.org/x/net/proxy), sends CONNECT and reads the
// answer. 200 is a success for the upstream, and the tunnel starts right
// after its header even when it carries Transfer-Encoding or Content-Length
// (RFC 9110 §9.3.6: the client ignores them); 407, the retry policy's
// statuses, bans and connect errors are failures retried elsewhere (a
// status with which the proxy reports that the target failed is retried
// without counting against the proxy: coord.ClassTarget); any other status
// is relayed to the client. Once established, the client
// connection is hijacked, answered "200 Connection established" (with the
// attempts headers) and spliced both ways; a side reaching EOF half-closes
// the other, an error closes both. Each attempt (dial, TLS, answer) is
// bounded by Config.ConnectTimeout. CONNECT counts as idempotent: nothing
// has been sent to the target before the tunnel stands.
//
// # TLS interception
//
// With Config.Intercept.CA (the fleet's own CA: NewCA, LoadInterceptCA),
// a CONNECT to a host that Interception covers (Hosts, default all, minus
// NoHosts; IP literals only with AllowIPTargets) is not tunnelled blind:
// the proxy answers "200 Connection established" itself, makes the TLS
// server handshake with a leaf certificate for the CONNECT host (ECDSA
// P-256, issued only for that host — an SNI naming another fails the
// handshake —, valid LeafValidity and never past the CA, cached up to
// MaxLeaves, ALPN http/1.1), and serves every request on the connection
// (keep-alive) like an absolute-form https:// request for the CONNECT
// target: through Coordinator.Do, each attempt a CONNECT through the
// chosen upstream (as for blind tunnels; its refusals judged alike, a
// Proxy-Status about the target included) and a TLS handshake with the
// origin inside it, verifying the origin's certificate against
// Interception.Roots (default the system's). A certificate that does not
// verify through one upstream while the host verifies through another is
// that upstream's failure; the same bad certificate through two upstreams
// is the site's (502 to the client, no upstream blamed, no retry); a first
// sighting is a target failure until one of those is known, and the
// upstream is blamed (Coordinator.Report) if the host then verifies
// elsewhere. A request naming another host than the CONNECT target is
// answered 421. The client's and the upstreams' credentials never reach
// the origin; the CA's key is never logged. Stats.Intercept counts
// connections, requests, leaves, client handshake failures by cause and
// origin certificate verdicts; Stats.Tunnels counts the blind tunnels.
//
// Answers of the proxy itself are short text/plain explanations:
// 400 for a request that is not a proxy request (GET / to the proxy), a
// bad CONNECT target or a fatal request error; 407 with
// Proxy-Authenticate: Basic realm="retrycoord" when ClientAuth is set and
// the client's credentials are missing or wrong; 503 when no upstream is
// eligible (coord.ErrNoUpstream: attempts 0 when none was eligible at
// once, no attempts header when the last eligible one opened while the
// request waited to retry); 502 when the coordinator gave
// up (*coord.GiveUpError; the last upstream's key and reason, passwords
// redacted). When the client goes away first, nothing is written and the
// connection is dropped.
//
// # Concurrency
//
// A Proxy is an http.Handler safe for concurrent use. Tunnels are the only
// work it owns beyond the server's handler goroutines: each runs on its
// handler goroutine plus one goroutine of its own. Intercepted connections
// are served by one http.Server of the proxy's own, started at the first
// of them. Close ends every tunnel and intercepted connection and waits
// for them; it is idempotent, and after it every request is
// answered 503. Serve and ListenAndServe run an http.Server until their
// context ends. Serve the proxy over plain HTTP/1.1 (as they do): CONNECT
// needs to hijack the client's connection, which HTTP/2 cannot give.
//
// # Usage
//
//	p, err := forward.New(forward.Config{
//		Coordinator: c, // a *coord.Coordinator, running
//		ClientAuth:  forward.Credentials{User: "scraper", Password: pw},
//	})
//	if err != nil { ... }
//	defer p.Close()
//	err = p.ListenAndServe(ctx, forward.DefaultAddr) // 127.0.0.1:7948; returns when ctx ends
//
// and then, for example:
//
//	curl -x http://scraper:pw@127.0.0.1:7948 https://example.com/
package forward
