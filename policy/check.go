package policy

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// problems collects the validation errors of a policy. Each one names the
// field (as spelled on the wire, prefixed by its section) and the bound.
type problems []error

func (ps *problems) addf(format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("policy: "+format, args...))
}

// err joins the problems, or returns nil when there are none.
func (ps problems) err() error { return errors.Join(ps...) }

// intIn checks lo ≤ v ≤ hi.
func (ps *problems) intIn(field string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.addf("%s %d out of range %s–%s", field, v, grouped(lo), grouped(hi))
	}
}

// durIn checks lo ≤ v ≤ hi; bounds is how the range reads in the docs.
func (ps *problems) durIn(field string, v, lo, hi time.Duration, bounds string) {
	if v < lo || v > hi {
		ps.addf("%s %v out of range %s", field, v, bounds)
	}
}

// floatIn checks lo ≤ v ≤ hi; NaN is out of every range.
func (ps *problems) floatIn(field string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		ps.addf("%s %v out of range %v–%v", field, v, lo, hi)
	}
}

// rate checks that v is 0 (off) or within (0, 1].
func (ps *problems) rate(field string, v float64) {
	if v != 0 && !(v > 0 && v <= 1) {
		ps.addf("%s %v out of range (0, 1] (0: off)", field, v)
	}
}

// enum checks that v is unset or named.
func enumIn[E enum](ps *problems, field string, names []string, v E) {
	if !enumValid(names, v) {
		ps.addf("%s %d out of range (valid: %s)", field, uint8(v), validNames(names))
	}
}

// grouped formats n with thousands separators: 1000000 → "1,000,000".
func grouped(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
