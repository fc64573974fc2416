package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/spf13/cobra"
)

// logOptions are the logging flags every subcommand shares.
type logOptions struct {
	level  string
	format string
}

func (o *logOptions) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.PersistentFlags().StringVar(&o.format, "log-format", "auto", "log format: text (tint), json, or auto (text on a terminal)")
}

// logger builds the process logger: tint on a terminal, JSON otherwise.
func (o *logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.level)
	}
	format := strings.ToLower(o.format)
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	switch format {
	case "text":
		// Colours only on a terminal: a file or a pipe gets no escapes.
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !writesToTerminal(w)})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText})), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", o.format)
}

// durationsAsText writes a duration as Go writes it ("30s", "1.5ms")
// instead of slog's JSON integer of nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// writesToTerminal reports whether w is a terminal and NO_COLOR is unset.
func writesToTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f) && os.Getenv("NO_COLOR") == ""
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
