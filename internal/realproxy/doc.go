// Package realproxy starts real proxy servers from Debian's packages for
// tests: squid (HTTP forward proxy and CONNECT, optionally with Basic
// authentication), tinyproxy (HTTP forward proxy and CONNECT) and dante's
// danted (SOCKS5, optionally with username/password).
//
// It owns the processes it starts: each runs in the foreground in its own
// process group, listens on a free 127.0.0.1 port, keeps its configuration,
// logs and PID file in a t.TempDir(), and is killed by PID (its process
// group, so helpers such as squid's basic_ncsa_auth go with it) in
// t.Cleanup. It keeps no disk cache.
//
// A missing binary FAILS the test with a message naming the package and
// scripts/ensure-test-deps.sh (make test runs it); it never skips, so that
// CI cannot pass without the suite.
//
// Squid refuses to run as root: as root it is told to run as the "proxy"
// user (the package's own), and the temp dir is opened to that user. Dante's
// username method checks system users: the ensure script creates DanteUser
// with DantePassword for that (root only).
//
// # Concurrency
//
// A Proxy is meant to be driven from the test goroutine; Kill must not race
// itself. Its accessors are safe for concurrent use. The package starts no
// goroutines: the servers log to files.
//
// # Usage
//
//	sq := realproxy.Squid(t, realproxy.SquidConfig{})
//	c, _ := coord.New(coord.Config{Pool: coord.Entries(sq.URL())})
//	sq.Kill(t) // SIGKILL: the proxy dies mid-run
package realproxy
