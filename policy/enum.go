package policy

import (
	"fmt"
	"strings"
)

// enum is the underlying type of Backoff, Jitter and Strategy.
type enum interface{ ~uint8 }

// Names of the enum values on the wire (JSON, YAML, flags), indexed by value.
// Index 0 is the unset value, which has no name of its own. Append-only.
var (
	backoffNames  = []string{BackoffExponential: "exponential", BackoffLinear: "linear", BackoffFixed: "fixed"}
	jitterNames   = []string{JitterNone: "none", JitterFull: "full", JitterEqual: "equal", JitterDecorrelated: "decorrelated"}
	strategyNames = []string{StrategyP2C: "p2c", StrategyBest: "best", StrategyRoundRobin: "round-robin", StrategyRandom: "random"}
)

// enumName returns the name of v, reading the unset value as def.
func enumName[E enum](names []string, def, v E) (string, bool) {
	if v == 0 {
		v = def
	}
	if int(v) < len(names) && names[v] != "" {
		return names[v], true
	}
	return "", false
}

// enumValid reports whether v is unset or has a name.
func enumValid[E enum](names []string, v E) bool {
	return v == 0 || (int(v) < len(names) && names[v] != "")
}

// parseEnum returns the value named s; the empty string is the unset value.
// The error has no "policy: " prefix so that callers can add a field name.
func parseEnum[E enum](kind string, names []string, s string) (E, error) {
	if s == "" {
		return 0, nil
	}
	for i, n := range names {
		if n != "" && n == s {
			return E(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (valid: %s)", kind, s, validNames(names))
}

// validNames lists the names of an enum, comma-separated.
func validNames(names []string) string {
	return strings.Join(names[1:], ", ")
}

// enumString is the String method of the enums: the name, or Kind(n) for a
// value without one.
func enumString[E enum](kind string, names []string, def, v E) string {
	if s, ok := enumName(names, def, v); ok {
		return s
	}
	return fmt.Sprintf("%s(%d)", kind, uint8(v))
}

// enumText is the MarshalText method of the enums.
func enumText[E enum](kind string, names []string, def, v E) ([]byte, error) {
	s, ok := enumName(names, def, v)
	if !ok {
		return nil, fmt.Errorf("policy: invalid %s %d (valid: %s)", kind, uint8(v), validNames(names))
	}
	return []byte(s), nil
}

// String returns the name of b: exponential, linear or fixed. The unset
// value is named after the default, exponential.
func (b Backoff) String() string { return enumString("Backoff", backoffNames, BackoffExponential, b) }

// MarshalText implements encoding.TextMarshaler. The unset value marshals as
// "exponential"; a value without a name is an error.
func (b Backoff) MarshalText() ([]byte, error) {
	return enumText("backoff", backoffNames, BackoffExponential, b)
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts
// exponential, linear and fixed; the empty string means unset.
func (b *Backoff) UnmarshalText(text []byte) error {
	v, err := parseEnum[Backoff]("backoff", backoffNames, string(text))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	*b = v
	return nil
}

// String returns the name of j: none, full, equal or decorrelated. The unset
// value is named after the default, none.
func (j Jitter) String() string { return enumString("Jitter", jitterNames, JitterNone, j) }

// MarshalText implements encoding.TextMarshaler. The unset value marshals as
// "none"; a value without a name is an error.
func (j Jitter) MarshalText() ([]byte, error) {
	return enumText("jitter", jitterNames, JitterNone, j)
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts none,
// full, equal and decorrelated; the empty string means unset.
func (j *Jitter) UnmarshalText(text []byte) error {
	v, err := parseEnum[Jitter]("jitter", jitterNames, string(text))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	*j = v
	return nil
}

// String returns the name of s: p2c, best, round-robin or random. The unset
// value is named after the default, p2c.
func (s Strategy) String() string { return enumString("Strategy", strategyNames, StrategyP2C, s) }

// MarshalText implements encoding.TextMarshaler. The unset value marshals as
// "p2c"; a value without a name is an error.
func (s Strategy) MarshalText() ([]byte, error) {
	return enumText("strategy", strategyNames, StrategyP2C, s)
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts p2c, best,
// round-robin and random; the empty string means unset.
func (s *Strategy) UnmarshalText(text []byte) error {
	v, err := parseEnum[Strategy]("strategy", strategyNames, string(text))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	*s = v
	return nil
}
