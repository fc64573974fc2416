package main

import (
	"strings"
	"testing"
	"time"
)

func TestTallyCountsLatenessBeyondTheSleep(t *testing.T) {
	var listed strings.Builder
	tl := newTally(5*time.Millisecond, &listed)
	at := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	// Gaps are the whole time between wake-ups: the 1ms asked for plus the
	// lateness.
	for i, gap := range []time.Duration{
		1 * time.Millisecond,    // on time
		1500 * time.Microsecond, // 0.5ms late: below every bound
		3 * time.Millisecond,    // 2ms late: the first bound exactly
		6 * time.Millisecond,    // 5ms late
		11 * time.Millisecond,   // 10ms late
		26 * time.Millisecond,   // 25ms late, the worst
		900 * time.Microsecond,  // early (a coarse clock): not negative lateness
	} {
		tl.note(at.Add(time.Duration(i)*time.Second), gap)
	}
	if tl.sleeps != 7 {
		t.Errorf("sleeps = %d, want 7", tl.sleeps)
	}
	want := []int{4, 3, 2, 1} // late by ≥2, ≥5, ≥10, ≥20ms
	for i := range bounds {
		if tl.over[i] != want[i] {
			t.Errorf("late by ≥ %v: %d, want %d", bounds[i], tl.over[i], want[i])
		}
	}
	if tl.worst != 25*time.Millisecond || !tl.worstAt.Equal(at.Add(5*time.Second)) {
		t.Errorf("worst %v at %v, want 25ms at 22:00:05", tl.worst, tl.worstAt)
	}
	if got, wantSum := tl.totalLate, 42500*time.Microsecond; got != wantSum {
		t.Errorf("total lateness %v, want %v", got, wantSum)
	}
	if got := strings.Count(listed.String(), "\n"); got != 3 {
		t.Errorf("listed %d wake-ups late by ≥5ms, want 3:\n%s", got, listed.String())
	}
	if !strings.Contains(listed.String(), "22:00:05.000  late 25.00ms") {
		t.Errorf("the worst wake-up is not listed with its time:\n%s", listed.String())
	}
	var out strings.Builder
	tl.report(&out, time.Minute)
	for _, s := range []string{"7 sleeps of 1ms", "late by ≥ 10ms       2", "worst           25.00ms at 22:00:05.000"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}
