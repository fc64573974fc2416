package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// logBridge is the io.Writer behind memberlist's *log.Logger: it reads the
// "[LEVEL]" prefix of each line and logs the rest to slog at that level.
type logBridge struct{ logger *slog.Logger }

func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(logBridge{logger: l.With("component", "memberlist")}, "", 0)
}

var logLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG]", slog.LevelDebug},
	{"[TRACE]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write logs one line. It never fails.
func (b logBridge) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range logLevels {
		if bytes.HasPrefix(line, []byte(l.prefix)) {
			level = l.level
			line = bytes.TrimSpace(line[len(l.prefix):])
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if b.logger.Enabled(context.Background(), level) {
		b.logger.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}
