// Package testutil holds the helpers every test package of retrycoord
// shares: one way to wait for a condition, and one goroutine-leak check.
// It is imported by tests only.
package testutil
