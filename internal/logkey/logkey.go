package logkey

// The attribute keys.
const (
	Upstream = "upstream" // an upstream's key, scheme://host:port (never with credentials)
	Node     = "node"     // this node's member name
	From     = "from"     // the phase a breaker left
	To       = "to"       // the phase a breaker entered (or the peer a message went to)
	Attempt  = "attempt"  // the attempt number within a request, from 1
	Err      = "err"      // an error (never one carrying a secret)
	Origin   = "origin"   // the node that wrote a record
	Gen      = "gen"      // a record's trip generation
	Reason   = "reason"   // why a breaker moved
	Source   = "source"   // where a change came from: local, manual, gossip, ledger
	Kind     = "kind"     // a record's kind: breaker, pool, policy
	Key      = "key"      // a fact's key
)
