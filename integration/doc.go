// Package integration holds retrycoord's end-to-end tests; it has no API.
//
// In the default build it runs in-process fleet simulations: several nodes,
// each a state.Table, a cluster.Node on loopback memberlist and a
// coord.Coordinator, sending real HTTP requests through test proxies
// (internal/testproxy) to a test origin. TestFleetAvoidsADeadProxy checks
// the project's user-visible promise — a proxy that trips on one node is
// avoided by the others — and BenchmarkFleet measures the attempts a fleet
// wastes on dead proxies with fleet-wide breakers against node-local ones:
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime=1x ./integration
//
// The chaos soak (soak_*_test.go) runs seven nodes on the in-memory
// fault-injecting transport (cluster/faultnet) with random partitions,
// packet loss, restarts and clock skew up to ±1s, while random trips,
// resets, probes and policy changes happen and one node's network is
// broken, and checks the fleet's invariants throughout. A short soak with
// a fixed seed runs in the default build; the full one runs with make soak
// (RETRYCOORD_SOAK=1, SOAK_SEED to replay, SOAK_DURATION).
//
// Under the compose build tag it holds the suite that runs against the
// docker compose cluster (go test -tags compose ./integration/...); the
// program integration/proxyfarm provides that cluster's faulty proxies.
//
// # Concurrency
//
// Every test builds its own fleet, proxies and origin on free loopback
// ports and closes them in its Cleanup; nothing is shared between tests.
package integration
