// Package policy defines what users of retrycoord configure: how requests
// are retried (RetryPolicy), how per-upstream circuit breakers trip and
// recover (BreakerPolicy), how an upstream is chosen (SelectPolicy), and the
// versioned Document that bundles the three and is shared by the fleet.
//
// It owns the defaults, the bounds with their error messages (Validate), the
// wire form in JSON and YAML (ParseDocument, ParseDocumentYAML, MarshalJSON,
// MarshalYAML), partial updates (Document.Patch, RFC 7386 merge patch) and
// the per-call waits between attempts (RetryPolicy.NewWaits, and
// RetryPolicy.NewBackoff for github.com/sethvargo/go-retry). It does not
// keep breaker state, select upstreams, classify outcomes or perform
// requests: package state and package coord do, reading these policies.
//
// # Zero values
//
// The zero value of every policy, field and enum means its documented
// default, so a zero Document is a complete, valid configuration. Code that
// reads a policy calls WithDefaults once to get the effective values;
// ParseDocument keeps zero fields zero, so that a field left out keeps
// following the default. On the wire only a field left out (or null) means
// the default: an explicit 0 or "0s" where zero would mean a default
// ("max_attempts": 0) is an error that names the field and its bound. Enums start at 1 and are written as names
// ("exponential", "decorrelated", "round-robin"); their numbers are
// append-only.
//
// # Wire form
//
// Keys are snake_case, durations are strings read by time.ParseDuration and
// written by time.Duration.String ("1.5s", "1m0s"), enums are names, zero
// fields are left out. Unknown keys and document versions other than 1 are
// errors. Every error of this package starts with "policy: " and names the
// field (as "retry.max_attempts") and, for bounds, the bound it broke.
//
// # Concurrency
//
// Policies and Documents are plain values: safe to copy and to read from
// any number of goroutines (do not write to a shared RetryStatus slice;
// WithDefaults returns a copy of it). Waits and the go-retry Backoff from
// NewBackoff are stateful and belong to one call: take a fresh one per call
// and do not use it from several goroutines. Jitter draws from
// math/rand/v2's global source, which is safe for concurrent use.
//
// # Usage
//
//	doc, err := policy.ParseDocument(data) // or ParseDocumentYAML
//	if err != nil {
//		return err // e.g. "policy: retry.max_attempts 11 out of range 1–10"
//	}
//	rp := doc.Retry.WithDefaults()
//
//	// Per call:
//	waits := rp.NewWaits()
//	for attempt := 1; ; attempt++ {
//		resp, err := try()
//		if attempt == rp.MaxAttempts || !rp.MayRetry(method) || !retryable(resp, err) {
//			break
//		}
//		time.Sleep(waits.Next()) // clip to Timeout, honour Retry-After up to MaxDelay
//	}
//
//	// A partial update from the admin API, validated as a whole:
//	doc, err = doc.Patch([]byte(`{"retry": {"max_attempts": 5}}`))
package policy
