package state

import "testing"

func TestOwnFailing(t *testing.T) {
	tb, err := NewTable(Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	fail := func(up string, n int) {
		for range n {
			tk, err := tb.Admit(up)
			if err != nil {
				return
			}
			tb.Settle(tk, OutcomeFailure, 0)
		}
	}
	tk, _ := tb.Admit("http://ok:1")
	tb.Settle(tk, OutcomeSuccess, 0)
	fail("http://one:1", 1)
	fail("http://three:1", 3)
	fail("http://tripped:1", 5)
	tb.Merge(Record{Upstream: "http://remote:1", Gen: 1, Phase: PhaseOpen, HLC: 1, Origin: "b"}, SourceGossip)

	for _, tc := range []struct {
		min         int
		wantFailing int
	}{{1, 3}, {3, 2}, {4, 1}} {
		failing, active := tb.OwnFailing(tc.min)
		if failing != tc.wantFailing || active != 5 {
			t.Errorf("OwnFailing(%d) = %d, %d; want %d, 5", tc.min, failing, active, tc.wantFailing)
		}
	}
}
