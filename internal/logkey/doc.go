// Package logkey names the attribute keys of retrycoord's log lines, in one
// place, so that every package logs the same fact under the same key and a
// log query for upstream="…" finds the lines of state, cluster, the ledger
// and the coordinator alike. Use them as slog keys:
//
//	logger.Info("breaker transition", logkey.Upstream, up, logkey.From, from, logkey.To, to)
package logkey
