package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api"
)

// lockedWriter serialises the lines of watch's two sources.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// watchBudgets prints the agent's retry budgets and hedging counters every
// interval until ctx ends; a failed poll prints nothing.
func (o *adminOptions) watchBudgets(ctx context.Context, w io.Writer, every time.Duration) {
	cl := o.client(false)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := cl.Budgets(ctx)
		if err != nil {
			continue
		}
		if o.json {
			if line, err := json.Marshal(b); err == nil {
				fmt.Fprintf(w, "%s\n", line)
			}
			continue
		}
		for _, l := range budgetLines(b, time.Now()) {
			fmt.Fprintln(w, l)
		}
	}
}

// budgetLines formats GET /v1/budgets for "watch --budgets": one line for
// the node's counters, one per site.
func budgetLines(b api.Budgets, now time.Time) []string {
	ts := now.Format(time.TimeOnly)
	out := []string{fmt.Sprintf("%s  budget   members=%d  exhausted=%d  hedges sent=%d won=%d refused=%d no_proxy=%d",
		ts, b.Members, b.Exhausted, b.Hedges.Sent, b.Hedges.Won, b.Hedges.Refused, b.Hedges.NoProxy)}
	for _, s := range b.Sites {
		out = append(out, fmt.Sprintf("%s  budget   site=%s  left=%.1f  allowed=%.1f  retries=%d  firsts=%d",
			ts, s.Site, s.Left, s.Allowed, s.Retries, s.Firsts))
	}
	return out
}
