package policy_test

import (
	"encoding"
	"testing"

	"github.com/proxywhirl/retrycoord/policy"
)

type textEnum interface {
	encoding.TextMarshaler
	String() string
}

func TestEnumNames(t *testing.T) {
	tests := []struct {
		v    textEnum
		want string
	}{
		{policy.BackoffDefault, "exponential"},
		{policy.BackoffExponential, "exponential"},
		{policy.BackoffLinear, "linear"},
		{policy.BackoffFixed, "fixed"},
		{policy.JitterDefault, "none"},
		{policy.JitterNone, "none"},
		{policy.JitterFull, "full"},
		{policy.JitterEqual, "equal"},
		{policy.JitterDecorrelated, "decorrelated"},
		{policy.StrategyDefault, "p2c"},
		{policy.StrategyP2C, "p2c"},
		{policy.StrategyBest, "best"},
		{policy.StrategyRoundRobin, "round-robin"},
		{policy.StrategyRandom, "random"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			got, err := tt.v.MarshalText()
			if err != nil || string(got) != tt.want {
				t.Errorf("MarshalText() = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnumUnmarshalText(t *testing.T) {
	for _, name := range []string{"exponential", "linear", "fixed"} {
		var b policy.Backoff
		if err := b.UnmarshalText([]byte(name)); err != nil || b.String() != name || b == 0 {
			t.Errorf("Backoff.UnmarshalText(%q) = %v, %v", name, b, err)
		}
	}
	for _, name := range []string{"none", "full", "equal", "decorrelated"} {
		var j policy.Jitter
		if err := j.UnmarshalText([]byte(name)); err != nil || j.String() != name || j == 0 {
			t.Errorf("Jitter.UnmarshalText(%q) = %v, %v", name, j, err)
		}
	}
	for _, name := range []string{"p2c", "best", "round-robin", "random"} {
		var s policy.Strategy
		if err := s.UnmarshalText([]byte(name)); err != nil || s.String() != name || s == 0 {
			t.Errorf("Strategy.UnmarshalText(%q) = %v, %v", name, s, err)
		}
	}
	var b policy.Backoff = policy.BackoffFixed
	if err := b.UnmarshalText(nil); err != nil || b != policy.BackoffDefault {
		t.Errorf("Backoff.UnmarshalText(\"\") = %v, %v, want unset", b, err)
	}
}

func TestEnumErrors(t *testing.T) {
	var b policy.Backoff
	wantErr(t, b.UnmarshalText([]byte("Exponential")), `unknown backoff "Exponential" (valid: exponential, linear, fixed)`)
	var j policy.Jitter
	wantErr(t, j.UnmarshalText([]byte("half")), `(valid: none, full, equal, decorrelated)`)
	var s policy.Strategy
	wantErr(t, s.UnmarshalText([]byte("roundrobin")), `(valid: p2c, best, round-robin, random)`)

	_, err := policy.Backoff(9).MarshalText()
	wantErr(t, err, "policy: invalid backoff 9")
	if got, want := policy.Jitter(9).String(), "Jitter(9)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestEnumJustPastTheNames pins the first value without a name, one past
// the last: it has no name to print or marshal, and must not be read from
// beyond the names.
func TestEnumJustPastTheNames(t *testing.T) {
	tests := []struct {
		v          textEnum
		str, error string
	}{
		{policy.BackoffFixed + 1, "Backoff(4)", "policy: invalid backoff 4"},
		{policy.JitterDecorrelated + 1, "Jitter(5)", "policy: invalid jitter 5"},
		{policy.StrategyRandom + 1, "Strategy(5)", "policy: invalid strategy 5"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.v.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			_, err := tt.v.MarshalText()
			wantErr(t, err, tt.error)
		})
	}
}
