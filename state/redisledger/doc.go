// Package redisledger keeps the fleet's records in Redis: a durable shared
// ledger that a starting node loads, that nodes which cannot gossip with each
// other share trips through, and that operators can audit. It is never on
// the request path.
//
// It owns the Redis side: the keys, the compare-and-set script, the change
// stream, and the loops that write, read and reconcile. It does not own the
// records' meaning nor their encoding's body (package state), nor which
// records are this node's: the Ledger subscribes to the Table and writes
// every local or manual change, never what came from gossip or from the
// ledger itself.
//
// # Layout in Redis
//
// Every key starts with the hash tag "{Prefix}" (default "{retrycoord}"), so
// all of them, and therefore every script's keys, sit in one Cluster slot:
//
//	{retrycoord}:r:<kind>:<key>  a hash per record: c (compare key),
//	                             r (encoded record), t (server ms of the write)
//	{retrycoord}:index           a set of the record keys
//	{retrycoord}:stream          the change stream, capped (XADD MAXLEN ~)
//
// One key per record lets open records carry a TTL of their remaining open
// time plus OpenGrace (half-open ones OpenGrace alone), so a dead origin
// cannot hold a proxy open forever; the index set lets Snapshot find every
// record in any deployment (SCAN would have to visit every Cluster master),
// and loading prunes (atomically, in a script) members whose key has expired. The compare-and-set
// keeps the greatest record by (Gen, Phase, HLC, Origin), compared as
// fixed-width hex strings because Lua numbers are doubles; each record it
// applies is appended to the stream, and a rejected one adds nothing.
//
// # Outages
//
// Nothing waits for Redis. The flusher writes batches through one pipeline;
// while Redis is unreachable it stops draining its subscription, so the
// table drops (and counts) changes once it is full, and no caller waits. The
// ledger logs one Warn when an outage starts and one Info when it ends. When
// Redis answers again the reconciler loads the ledger into the table and
// re-asserts the table's own records and every non-closed breaker, so the
// ledger again equals the tables, and only then do writing and reading go on.
// It re-asserts the same way after the subscription dropped changes while
// Redis was up.
//
// # Concurrency
//
// A Ledger is safe for concurrent use. It subscribes to its Table at New
// and the table never waits for it: the subscription drops (and counts)
// when full. Run owns three goroutines (flusher, stream reader, reconciler);
// Close stops them, waits for them and for a final flush bounded by
// FlushTimeout, and is idempotent.
//
// # Usage
//
//	l, err := redisledger.New(redisledger.Config{URL: "redis://:secret@redis:6379/0", Table: tb})
//	if err != nil { ... }
//	if _, err := l.Snapshot(ctx); err != nil {
//		log.Warn("starting without the ledger", "err", err) // degraded; Run reconciles later
//	}
//	go l.Run(ctx)
//	defer l.Close()
//	// l writes tb's local and manual changes; what it reads, it merges into tb.
package redisledger
