package coord

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// poolView is a pool as its keys and each upstream's URL and metadata.
func poolView(c *Coordinator) map[string]string {
	out := map[string]string{}
	for _, u := range c.Upstreams() {
		keys := slices.Sorted(maps.Keys(u.meta))
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+u.meta[k])
		}
		out[u.Key()] = u.url.String() + " " + strings.Join(kv, ",")
	}
	return out
}

// TestUpdatePool: one change adds, replaces and removes as Add and Remove
// would one by one, counts each against the pool before, writes a fact for
// each entry and a tombstone for each removal, and the same list loaded
// again changes nothing and writes no fact.
func TestUpdatePool(t *testing.T) {
	c, err := New(Config{Pool: []PoolEntry{
		{URL: "http://a.example:1"},
		{URL: "http://b.example:2", Meta: map[string]string{"region": "eu"}},
		{URL: "http://d.example:4"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	change := PoolChange{
		Add: []PoolEntry{
			{URL: "http://b.example:2", Meta: map[string]string{"region": "us"}}, // replaced
			{URL: "http://c.example:3", Meta: map[string]string{"tier": "1"}},
			{URL: "http://u:pw@c.example:3", Meta: map[string]string{"tier": "2"}}, // the later c wins
			{URL: "http://d.example:4"}, // as it is
		},
		Remove: []string{"http://x:y@a.example:1", "http://z.example:9"}, // a by URL; z not in the pool
	}
	got, err := c.UpdatePool(change)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PoolChanged{Added: 1, Replaced: 1, Unchanged: 1, Removed: 1}); got != want {
		t.Errorf("UpdatePool = %+v, want %+v", got, want)
	}
	want := map[string]string{
		"http://b.example:2": "http://b.example:2 region=us",
		"http://c.example:3": "http://u:pw@c.example:3 tier=2",
		"http://d.example:4": "http://d.example:4 ",
	}
	if pool := poolView(c); !maps.Equal(pool, want) {
		t.Errorf("pool = %v, want %v", pool, want)
	}
	for _, k := range []string{"http://b.example:2", "http://c.example:3", "http://d.example:4"} {
		rec, ok := c.Table().Fact(state.KindPool, k)
		if !ok {
			t.Fatalf("no fact for %s", k)
		}
		e, err := parseEntryValue(rec.Value)
		if err != nil || want[k] != e.URL+" "+strings.Join(metaPairs(e.Meta), ",") {
			t.Errorf("fact for %s = %q (%v), want %q", k, rec.Value, err, want[k])
		}
	}
	for _, k := range []string{"http://a.example:1", "http://z.example:9"} {
		if _, ok := c.Table().Fact(state.KindPool, k); ok {
			t.Errorf("%s removed, its fact still live", k)
		}
	}
	seq := c.Table().FactSeq()

	again, err := c.UpdatePool(change)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PoolChanged{Unchanged: 3}); again != want {
		t.Errorf("the same change again = %+v, want %+v", again, want)
	}
	if got := c.Table().FactSeq() - seq; got != 2 {
		t.Errorf("the same change again wrote %d facts, want the 2 tombstones only", got)
	}
}

func metaPairs(m map[string]string) []string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, k+"="+m[k])
	}
	return kv
}

// TestUpdatePoolAllOrNothing: a bad entry anywhere, or a key both added
// and removed, fails the change with an error that names it (no
// password), and neither the pool nor the table changes.
func TestUpdatePoolAllOrNothing(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://a.example:1")})
	if err != nil {
		t.Fatal(err)
	}
	before, seq := poolView(c), c.Table().FactSeq()
	for _, tc := range []struct {
		name   string
		change PoolChange
		want   string
		bad    bool
	}{
		{"bad entry last", PoolChange{
			Add:    []PoolEntry{{URL: "http://b.example:2"}, {URL: "gopher://u:secret@c.example:3"}},
			Remove: []string{"http://a.example:1"},
		}, "add[1]", true},
		{"added and removed", PoolChange{
			Add:    []PoolEntry{{URL: "http://b.example:2"}, {URL: "http://u:secret@c.example:3"}},
			Remove: []string{"http://a.example:1", "http://c.example:3"},
		}, "http://c.example:3 is both added and removed", false},
	} {
		_, err := c.UpdatePool(tc.change)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: err = %v, want one naming %q without the password", tc.name, err, tc.want)
		}
		if tc.bad != errors.Is(err, ErrBadUpstream) {
			t.Errorf("%s: errors.Is(err, ErrBadUpstream) = %v", tc.name, !tc.bad)
		}
		if after := poolView(c); !maps.Equal(after, before) {
			t.Errorf("%s: the pool changed to %v", tc.name, after)
		}
		if c.Table().FactSeq() != seq {
			t.Errorf("%s: facts written", tc.name)
		}
	}
}

// TestUpdatePoolReachesAnotherCoordinator: the facts one change writes,
// merged into another node's table, give that node the same pool.
func TestUpdatePoolReachesAnotherCoordinator(t *testing.T) {
	a, err := New(Config{Pool: Entries("http://a.example:1")})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := state.NewTable(state.Config{Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	t.Cleanup(func() { _ = b.Close() })
	// a's facts so far, then the change's, as gossip would bring them.
	sub := a.Table().Subscribe(8192)
	defer sub.Close()
	if _, err := a.Add(PoolEntry{URL: "http://z.example:9"}); err != nil {
		t.Fatal(err)
	}
	var add []PoolEntry
	for i := range 3000 {
		add = append(add, PoolEntry{URL: fmt.Sprintf("http://10.3.%d.%d:8080", i/250, i%250)})
	}
	if _, err := a.UpdatePool(PoolChange{Add: add, Remove: []string{"http://z.example:9"}}); err != nil {
		t.Fatal(err)
	}
	for range len(sub.C) {
		tr := <-sub.C
		tb.Merge(tr.Record, state.SourceGossip)
	}
	// b's pool is a's, but for the entry a was configured with.
	want := poolView(a)
	delete(want, "http://a.example:1")
	testutil.Eventually(t, 10*time.Second, "b's pool is a's shared pool", func() bool {
		return maps.Equal(poolView(b), want)
	})
}

// TestPoolFactsLoggedOncePerChange: a pool of facts from the fleet is one
// line in the log at Info, not one a fact (those are Debug), however many
// facts it is; the policy's change is still a line of its own.
func TestPoolFactsLoggedOncePerChange(t *testing.T) {
	var buf testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tb, err := state.NewTable(state.Config{Node: "b", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Table: tb, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := state.NewTable(state.Config{Node: "other"})
	var recs []state.Record
	for i := range 500 {
		host := fmt.Sprintf("10.4.%d.%d:8080", i/250, i%250)
		recs = append(recs, other.PutFact(state.KindPool, "http://"+host, []byte(`{"url":"http://`+host+`"}`)))
	}
	for _, r := range recs { // before Run: its first catch-up takes them all
		tb.Merge(r, state.SourceGossip)
	}
	tb.Merge(other.PutFact(state.KindPolicy, "", []byte(`{"retry":{"max_attempts":4}}`)), state.SourceGossip)
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	testutil.Eventually(t, 5*time.Second, "the pool applied", func() bool { return len(c.Upstreams()) == 500 })
	testutil.Eventually(t, 5*time.Second, "the summary logged", func() bool {
		return strings.Contains(buf.String(), "pool changed by the fleet's facts")
	})
	log := buf.String()
	if n := strings.Count(log, "pool changed by the fleet's facts"); n != 1 || !strings.Contains(log, "added=500") {
		t.Errorf("%d summaries, want 1 with added=500:\n%s", n, log)
	}
	if n := strings.Count(log, "kind=pool"); n != 0 {
		t.Errorf("%d pool facts logged one by one at Info", n)
	}
	if !strings.Contains(log, "kind=policy") {
		t.Errorf("the policy fact's change is not logged:\n%s", log)
	}
}
