package redisledger

import (
	"context"
	"fmt"
	"log/slog"
)

// RedisLogger adapts a *slog.Logger to go-redis's process-wide logger, which
// otherwise prints dial failures to stderr on every retry during an outage.
// The program that owns the process installs it once:
//
//	redis.SetLogger(redisledger.RedisLogger{Logger: logger})
//
// Messages go out at Debug with the attribute component=go-redis: the
// ledger itself reports an outage once, at Warn. A nil Logger discards.
// RedisLogger is safe for concurrent use.
type RedisLogger struct {
	Logger *slog.Logger
}

// Printf logs one go-redis message at Debug.
func (r RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	if r.Logger == nil || !r.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	r.Logger.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
