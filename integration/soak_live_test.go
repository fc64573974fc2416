package integration

import (
	"fmt"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// The soak's liveness and its no-false-trips invariant (issue 12). A soak
// in which nothing happened proves nothing, so the run counts what it must
// have seen, prints the counts in its `soak:` line, and fails when one is
// zero:
//   - adopted: trips (open records, by their generation, origin and clock)
//     that every node held at some tick;
//   - suspected and released: times some healthy node saw node-6 advertise
//     itself suspect (each rise), and times node-6's poison guard let go;
//   - probes: probes completed, as the records they wrote ("probe
//     succeeded" closed, "probe failed" re-opened), each counted once.
//
// No false trips: a trip of a chaos upstream that no healthy node failed
// (at any level) or tripped by hand within the window (plus the clock skew)
// is a violation, as is one of a healthy upstream (checker.scan). Only
// trips first seen are judged, when the checker first sees their record on
// any node: scan reads every table each tick, so that is within a tick of
// the trip. Trips by node-6 (kept to itself by the poison guard, checked
// for healthy upstreams by scan), by an operator and by a failed probe are
// not judged.

// falseTripSlack covers the clock skew between nodes (±1s each) and the
// bucket width of the window.
const falseTripSlack = 3 * time.Second

// tripID identifies one record of one breaker.
type tripID struct {
	key    string
	gen    uint64
	phase  state.Phase
	hlc    state.HLC
	origin string
}

// liveness is the checker's bookkeeping for the counts and the
// no-false-trips invariant.
type liveness struct {
	window   time.Duration
	seenBy   map[tripID]uint32    // open record → bitmask of the nodes (by index) seen holding it
	probes   map[tripID]bool      // probe records seen
	failedAt map[string]time.Time // chaos upstream → last failure by a healthy node or trip by hand, any level

	adopted, suspected, released int
	wasSuspect, sawSuspect       bool
}

func newLiveness(window time.Duration) *liveness {
	return &liveness{window: window, seenBy: map[tripID]uint32{}, probes: map[tripID]bool{}, failedAt: map[string]time.Time{}}
}

// failed notes a failure by a healthy node, or a trip by hand, of up (a
// proxy, or the proxy of a pair).
func (l *liveness) failed(up string) { l.failedAt[up] = time.Now() }

// scanLive runs on every tick with the node list (index = node number).
func (c *checker) scanLive(nodes []*soakNode) {
	l := c.live
	all := uint32(1)<<len(nodes) - 1
	now := time.Now()
	for i, n := range nodes {
		for _, r := range n.tb.Snapshot() {
			if r.Kind != state.KindBreaker {
				continue
			}
			id := tripID{r.Key().String(), r.Gen, r.Phase, r.HLC, r.Origin}
			if r.Reason == "probe succeeded" || r.Reason == "probe failed" {
				l.probes[id] = true
			}
			if r.Phase != state.PhaseOpen {
				continue
			}
			mask, seen := l.seenBy[id]
			if !seen {
				c.judgeTrip(r, now)
			}
			if next := mask | 1<<i; next != mask {
				l.seenBy[id] = next
				if next == all {
					l.adopted++
				}
			}
		}
	}
	poisoned := nodes[soakPoisoned]
	others := false
	for _, n := range nodes[:soakPoisoned] {
		for _, m := range n.node.MemberStates() {
			if m.Name == poisoned.name && m.Suspect {
				others = true
			}
		}
	}
	if others && !l.sawSuspect {
		l.suspected++
	}
	l.sawSuspect = others
	sus := poisoned.node.Stats().Suspect
	if l.wasSuspect && !sus {
		l.released++
	}
	l.wasSuspect = sus
}

// judgeTrip checks a trip seen for the first time.
func (c *checker) judgeTrip(r state.Record, now time.Time) {
	if r.Site != "" || r.Origin == c.poisoned || r.Reason == "probe failed" || r.Reason == "soak trip" || c.healthy[r.Upstream] {
		return
	}
	at, ok := c.live.failedAt[r.Upstream]
	if ok && now.Sub(at) <= c.live.window+falseTripSlack {
		return
	}
	last := "never"
	if ok {
		last = now.Sub(at).Round(time.Millisecond).String() + " before"
	}
	c.fail("", "false trip",
		"%s opened (gen %d by %s, %q) with no failure by a healthy node within the window: last %s",
		r.Upstream, r.Gen, r.Origin, r.Reason, last)
}

// liveCounts returns the counts for the soak line, and fails the run for
// each that is zero.
func (c *checker) liveCounts() string {
	l := c.live
	for _, z := range []struct {
		name string
		n    int
	}{{"trips adopted fleet-wide", l.adopted}, {"node-6 seen suspect", l.suspected}, {"node-6 released", l.released}, {"probes completed", len(l.probes)}} {
		if z.n == 0 {
			c.fail("", "liveness", "no %s in the whole run", z.name)
		}
	}
	return fmt.Sprintf("adopted=%d suspected=%d released=%d probes=%d", l.adopted, l.suspected, l.released, len(l.probes))
}
