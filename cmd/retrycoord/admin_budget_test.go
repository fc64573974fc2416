package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// TestAdminWatchBudgets: watch --budgets prints each site's budget left
// and the hedging counters.
func TestAdminWatchBudgets(t *testing.T) {
	a := newAdminAgent(t, nil)
	a.c.Table().CountFirst("example.com", time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		env := map[string]string{adminEnvAddr: a.srv.URL}
		root := &cobra.Command{Use: "retrycoord", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(newAdminCommandsWith(func(o *adminOptions) { o.getenv = func(k string) string { return env[k] } })...)
		root.SetOut(&out)
		root.SetArgs([]string{"watch", "--budgets", "50ms"})
		done <- root.ExecuteContext(ctx)
	}()
	testutil.Eventually(t, 5*time.Second, "a budget line", func() bool { return strings.Contains(out.String(), "site=example.com") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch after cancel: %v", err)
	}
	got := out.String()
	for _, w := range []string{"budget   members=1  exhausted=0  hedges sent=0 won=0", "site=example.com  left=100.2  allowed=100.2  retries=0  firsts=1"} {
		if !strings.Contains(got, w) {
			t.Errorf("watch output lacks %q:\n%s", w, got)
		}
	}
}
