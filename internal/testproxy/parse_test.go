package testproxy

import (
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	good := map[string]Fault{
		"healthy":    Healthy(),
		"refuse":     Refuse(),
		"status 502": Status(502),
		"503":        Status(503),
		"407":        ProxyAuth(),
		"hang 5s":    Hang(5 * time.Second),
		"slow 100ms": Slow(100 * time.Millisecond),
		"ban 429":    Ban(429),
	}
	for in, want := range good {
		got, err := ParseFault(in)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %v, %v; want %v", in, got, err, want)
		}
		// What String writes reads back the same.
		if again, err := ParseFault(got.String()); err != nil || again.Kind != got.Kind {
			t.Errorf("ParseFault(%q) (from String) = %v, %v", got.String(), again, err)
		}
	}
	for _, in := range []string{"", "explode", "status", "status 200", "ban 503", "slow soon", "hang -1s"} {
		if _, err := ParseFault(in); err == nil {
			t.Errorf("ParseFault(%q) succeeded", in)
		}
	}
}
