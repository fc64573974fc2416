// Package testproxy runs HTTP forward proxies with switchable faults on
// loopback, and a scriptable origin server, for tests of retrycoord's
// coordinator, forward proxy and integration suites.
//
// It owns the proxies' listeners, their fault switches and their counters.
// It does not own retries, selection or classification: it only misbehaves
// on request, so that the code under test can be watched coping.
//
// Each Proxy listens on 127.0.0.1 on a free port and handles absolute-form
// requests (GET http://origin/path) and CONNECT tunnels. Its Fault can be
// switched at any time: Healthy, Refuse (the connection is reset on accept),
// Status (502/503/504 or any status from the proxy), ProxyAuth (407), Hang
// (until the request's context ends or a bound), Slow (an added delay, then
// healthy) and Ban (403/429 as if the target had answered through a working
// proxy). Every request or connection a proxy sees is counted, faulty or not.
//
// # Concurrency
//
// Proxy, Farm and Origin are safe for concurrent use. Faults may be switched
// while requests are in flight; a request sees the fault in force when it
// arrived. Close (also run by t.Cleanup) waits for the servers' goroutines.
//
// # Usage
//
//	farm := testproxy.Start(t, 3) // closed by t.Cleanup
//	origin := testproxy.NewOrigin(t)
//	farm.Proxies[0].Set(testproxy.Status(502))
//	farm.Proxies[1].Set(testproxy.Hang(5 * time.Second))
//	// ... send requests through farm.URLs() to origin.URL ...
//	if got := farm.Proxies[0].Requests(); got != 1 { ... }
package testproxy
