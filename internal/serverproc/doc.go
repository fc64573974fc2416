// Package serverproc holds what the test helpers that start real server
// processes (internal/redistest's redis-server, internal/realproxy's squid,
// tinyproxy and danted) share: a free loopback port to give a server, whether
// a started child has exited, and the tail of a server's output for an error
// message.
//
// It is for tests only; every function is safe for concurrent use.
package serverproc
