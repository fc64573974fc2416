package policy_test

import (
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// TestDecorrelatedJitterMeanGrows: decorrelated jitter draws each wait
// from [BaseDelay, 3·previous], so over many draws the mean of the k-th
// wait rises with k until MaxDelay holds it: 2s, 3.5s, 5.75s, 9.1s, … in
// expectation. A wait drawn from the base instead of the previous wait
// (or a previous wait never kept) has a flat mean. With 4,000 sequences
// the standard error of each mean is far below the gaps asserted.
func TestDecorrelatedJitterMeanGrows(t *testing.T) {
	const runs, waits = 4000, 8
	p := policy.RetryPolicy{Jitter: policy.JitterDecorrelated, BaseDelay: time.Second, MaxDelay: 30 * time.Second}
	var sum [waits]float64
	for range runs {
		w := p.NewWaits()
		for k := range waits {
			sum[k] += w.Next().Seconds()
		}
	}
	var mean [waits]float64
	for k := range mean {
		mean[k] = sum[k] / runs
	}
	t.Logf("means of the k-th wait: %.2f", mean)
	// 2s, 3.5s, 5.75s, 9.1s before the cap starts to bite.
	for k := 1; k < 4; k++ {
		if mean[k] < 1.3*mean[k-1] {
			t.Errorf("mean of wait %d = %.2fs, want at least 1.3 × that of wait %d (%.2fs)", k, mean[k], k-1, mean[k-1])
		}
	}
	if last := mean[waits-1]; last > 30 || last < mean[4] {
		t.Errorf("mean of wait %d = %.2fs, want within [mean of wait 4 %.2fs, cap 30s]", waits-1, last, mean[4])
	}
}

// TestJitterReachesBothEnds: a jittered wait is drawn from its range with
// both ends included. With a range of two values, 400 draws that never give
// one of them would happen with probability 2^-399.
func TestJitterReachesBothEnds(t *testing.T) {
	p := policy.RetryPolicy{Jitter: policy.JitterEqual, Backoff: policy.BackoffFixed, BaseDelay: 2, MaxDelay: 2}
	seen := map[time.Duration]int{}
	for range 400 {
		w := p.NewWaits()
		seen[w.Next()]++
	}
	if len(seen) != 2 || seen[1] == 0 || seen[2] == 0 {
		t.Errorf("equal jitter over [1ns, 2ns] drew %v, want both ends and nothing else", seen)
	}
}
