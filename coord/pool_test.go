package coord

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		url, key, dial string
	}{
		{"http://10.0.0.1:8080", "http://10.0.0.1:8080", "http://10.0.0.1:8080"},
		{"http://user:pw@Proxy.Example", "http://proxy.example:80", "http://user:pw@proxy.example:80"},
		{"https://p.example/", "https://p.example:443", "https://p.example:443"},
		{"socks5://u:p@[::1]", "socks5://[::1]:1080", "socks5://u:p@[::1]:1080"},
	}
	for _, tt := range tests {
		u, err := ParseUpstream(PoolEntry{URL: tt.url})
		if err != nil {
			t.Errorf("ParseUpstream(%q): %v", tt.url, err)
			continue
		}
		if u.Key() != tt.key || u.URL().String() != tt.dial {
			t.Errorf("ParseUpstream(%q) = key %q, dial %q; want %q, %q", tt.url, u.Key(), u.URL(), tt.key, tt.dial)
		}
	}
}

// TestParseUpstreamPortRange: a port outside 1–65535 is refused (url.Parse
// only checks that it is digits), with the URL's password hidden; leading
// zeros do not make a second key for the same proxy.
func TestParseUpstreamPortRange(t *testing.T) {
	for _, raw := range []string{
		"http://h:0",
		"http://user:hunter2@h:65536",
		"socks5://[::1]:0",
		"https://h:00000",
		"http://h:4294967377", // 80 once truncated to 32 bits
		"http://h:99999999999999999999",
	} {
		u, err := ParseUpstream(PoolEntry{URL: raw})
		if !errors.Is(err, ErrBadUpstream) || !strings.Contains(err.Error(), "port out of range 1–65535") {
			t.Errorf("ParseUpstream(%q) = %v, %v; want ErrBadUpstream naming the port range", raw, u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseUpstream(%q): error %q shows the password", raw, err)
		}
	}
	for raw, key := range map[string]string{
		"http://h:1":             "http://h:1",
		"http://h:65535":         "http://h:65535",
		"https://u:p@h:00443":    "https://h:443",
		"socks5://[::1]:0001080": "socks5://[::1]:1080",
	} {
		u, err := ParseUpstream(PoolEntry{URL: raw})
		if err != nil || u.Key() != key {
			t.Errorf("ParseUpstream(%q) = %v, %v; want key %q", raw, u, err, key)
		}
	}
}

func TestParseUpstreamErrorsHidePasswords(t *testing.T) {
	for _, raw := range []string{
		"ftp://user:hunter2@host:21",
		"http://user:hunter2@",
		"http://user:hunter2@host:8080/path",
		"http://user:hunter2@host:bad port",
		"://user:hunter2@host",
		"http://user:hunter2@ho%zzst",
	} {
		_, err := ParseUpstream(PoolEntry{URL: raw})
		if err == nil {
			t.Errorf("ParseUpstream(%q): want an error", raw)
			continue
		}
		if !errors.Is(err, ErrBadUpstream) {
			t.Errorf("ParseUpstream(%q): %v does not wrap ErrBadUpstream", raw, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseUpstream(%q): error %q shows the password", raw, err)
		}
		if !strings.Contains(err.Error(), "user") {
			t.Errorf("ParseUpstream(%q): error %q does not name the URL", raw, err)
		}
	}
	if _, err := New(Config{Pool: Entries("gopher://x:secret@h")}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("New with a bad pool URL: %v", err)
	}
}

func TestPoolFactsTravel(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	// What cluster and redisledger read: the table's own changes.
	sub := c.Table().Subscribe(0)
	defer sub.Close()
	if _, err := c.Add(PoolEntry{URL: "http://u:pw@a.example:1", Meta: map[string]string{"region": "eu"}}); err != nil {
		t.Fatal(err)
	}
	if tr := <-sub.C; tr.Record.Kind != state.KindPool || tr.Source != state.SourceManual {
		t.Errorf("Add published %v from %v, want a manual pool fact", tr.Record.Kind, tr.Source)
	}
	u := c.Upstream("http://a.example:1")
	if u == nil || u.Region() != "eu" {
		t.Fatalf("Upstream after Add = %v", u)
	}
	rec, ok := c.Table().Fact(state.KindPool, "http://a.example:1")
	if !ok {
		t.Fatal("no pool fact written")
	}
	e, err := parseEntryValue(rec.Value)
	if err != nil || e.URL != "http://u:pw@a.example:1" {
		t.Errorf("fact value %q: %v", rec.Value, err)
	}

	// A fact from another node adds to the pool; its tombstone removes.
	other, _ := state.NewTable(state.Config{Node: "other"})
	remote := other.PutFact(state.KindPool, "http://b.example:2", []byte(`{"url":"http://b.example:2","meta":{"region":"us"}}`))
	c.Table().Merge(remote, state.SourceGossip)
	testutil.Eventually(t, 5*time.Second, "remote pool entry", func() bool { return c.Upstream("http://b.example:2") != nil })
	c.Table().Merge(other.DeleteFact(state.KindPool, "http://b.example:2"), state.SourceLedger)
	testutil.Eventually(t, 5*time.Second, "remote removal", func() bool { return c.Upstream("http://b.example:2") == nil })
	// A bad remote fact is counted, not applied.
	c.Table().Merge(other.PutFact(state.KindPool, "http://c.example:3", []byte(`{"url":"ftp://x"}`)), state.SourceGossip)
	testutil.Eventually(t, 5*time.Second, "bad fact counted", func() bool { return c.BadFacts() == 1 })

	if !c.Remove("http://a.example:1") || c.Upstream("http://a.example:1") != nil {
		t.Error("Remove did not remove")
	}
	if _, ok := c.Table().Fact(state.KindPool, "http://a.example:1"); ok {
		t.Error("Remove left the fact live")
	}
}

func TestPolicyFacts(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	d := policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 5}}
	if err := c.SetDocument(d); err != nil {
		t.Fatal(err)
	}
	if got := c.Document().Retry.MaxAttempts; got != 5 {
		t.Errorf("MaxAttempts %d, want 5", got)
	}
	if err := c.SetDocument(policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 11}}); err == nil {
		t.Error("SetDocument(max_attempts 11): want an error")
	}
	other, _ := state.NewTable(state.Config{Node: "other"})
	c.Table().Merge(other.PutFact(state.KindPolicy, "", []byte(`{"version":1,"retry":{"max_attempts":7}}`)), state.SourceGossip)
	testutil.Eventually(t, 5*time.Second, "remote policy", func() bool { return c.Document().Retry.MaxAttempts == 7 })
	if diff := cmp.Diff(7, c.pol.Load().retry.MaxAttempts); diff != "" {
		t.Errorf("compiled MaxAttempts (-want +got):\n%s", diff)
	}
	// One the ledger brings is put in force as well.
	c.Table().Merge(other.PutFact(state.KindPolicy, "", []byte(`{"version":1,"retry":{"max_attempts":6}}`)), state.SourceLedger)
	testutil.Eventually(t, 5*time.Second, "the ledger's policy", func() bool { return c.Document().Retry.MaxAttempts == 6 })
}

func TestRunAndClose(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	testutil.Eventually(t, 5*time.Second, "Run to start", func() bool {
		c.runMu.Lock()
		defer c.runMu.Unlock()
		return c.running
	})
	if err := c.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	_ = c.Close()
	_ = c.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestFactsMergedBeforeRunAreApplied(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := state.NewTable(state.Config{Node: "other"})
	c.Table().Merge(other.PutFact(state.KindPool, "http://b.example:2", []byte(`{"url":"http://b.example:2"}`)), state.SourceGossip)
	c.Table().Merge(other.PutFact(state.KindPolicy, "", []byte(`{"version":1,"retry":{"max_attempts":4}}`)), state.SourceLedger)
	if c.Upstream("http://b.example:2") != nil {
		t.Fatal("applied before Run")
	}
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	testutil.Eventually(t, 5*time.Second, "Run to apply the earlier facts", func() bool {
		return c.Upstream("http://b.example:2") != nil && c.Document().Retry.MaxAttempts == 4
	})
}
