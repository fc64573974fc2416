package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// An explicit zero on the wire. In Go, a zero field means "the default"; on
// the wire, so does a field left out or null. But a user who writes
// "max_attempts": 0 or "window": "0s" does not mean 3 attempts or a minute:
// in a field whose zero would be replaced by a default it is an error that
// names the field and its bound. Fields whose zero is a value of their own
// ("timeout": "0s" is no timeout, "failure_rate": 0 is off) accept it, and
// so do the selection weights as long as the two still sum to 1.

// policyCheck is what explicitZeros needs of a policy: its defaults and its
// bounds.
type policyCheck[P any] interface {
	WithDefaults() P
	check(*problems)
}

// explicitZeros returns an error for every key of present (the keys of a
// section that were given and not null) whose value in the decoded wire
// struct w is zero while the policy p decoded from it would fill in a
// default. It checks p with its defaults filled in except for those
// fields, so the error is the field's bound as Validate words it.
func explicitZeros[P policyCheck[P]](section string, present []string, w any, p P) error {
	wv := reflect.ValueOf(w).Elem()
	var zeros []string // wire keys
	filled := p.WithDefaults()
	fv := reflect.ValueOf(&filled).Elem()
	for _, key := range present {
		f, name, ok := wireField(wv, key)
		if !ok || !wireZero(f) {
			continue
		}
		if pf := fv.FieldByName(name); pf.IsValid() {
			pf.SetZero()
			zeros = append(zeros, key)
		}
	}
	if len(zeros) == 0 {
		return nil
	}
	// The problems the zeros cause: those of the policy with the zeros
	// kept that the policy with its defaults does not have.
	var before, after, ps problems
	p.WithDefaults().check(&before)
	filled.check(&after)
	for _, e := range after {
		if slices.ContainsFunc(before, func(b error) bool { return b.Error() == e.Error() }) {
			continue
		}
		msg := e.Error() + " "
		for _, key := range zeros {
			if field := section + "." + key + " "; strings.HasPrefix(msg, "policy: "+field) || strings.Contains(msg, " "+field) {
				ps = append(ps, fmt.Errorf("%w (an explicit zero is not the default: leave %s.%s out or set it to null)", e, section, key))
				break
			}
		}
	}
	return ps.err()
}

// wireField returns the field of the wire struct v whose JSON key is key,
// and the field's Go name (the same as the policy's).
func wireField(v reflect.Value, key string) (reflect.Value, string, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); k == key {
			return v.Field(i), t.Field(i).Name, true
		}
	}
	return reflect.Value{}, "", false
}

// wireZero reports whether a wire field holds a zero: 0 (-0 too: IsZero
// compares floats by value), false, "", or a duration that parses to 0
// ("0s", "0", "-0ms").
func wireZero(f reflect.Value) bool {
	switch {
	case f.IsZero():
		return true
	case f.Type() == durationType:
		d, err := time.ParseDuration(f.String())
		return err == nil && d == 0
	}
	return false
}
