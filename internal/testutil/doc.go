// Package testutil holds the helpers every test package of retrycoord
// shares: one way to wait for a condition, one goroutine-leak check, and
// one definition of a percentile for benchmarks (Rank, the nearest rank).
// It is imported by tests only.
package testutil
