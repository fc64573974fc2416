// Package redistest starts real redis-server processes for tests: a
// standalone server on a free loopback port, and a three-master Redis
// Cluster.
//
// It owns the processes it starts: each is started with persistence off
// (--save "" --appendonly no), listens on 127.0.0.1 only, keeps its files in
// a t.TempDir(), and is killed by PID in t.Cleanup. It does not own a Redis
// client: tests build their own from Addr or Addrs.
//
// # Concurrency
//
// A Server or Cluster is meant to be driven from the test goroutine; Stop,
// Kill and Start must not race each other. The package starts no
// goroutines: servers log to files, not pipes.
//
// # Usage
//
//	srv := redistest.Start(t)              // skips the test if redis-server is missing
//	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
//	srv.Kill(t)                            // SIGKILL: an outage
//	srv.Start(t)                           // the same port again, empty
package redistest
