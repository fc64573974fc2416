package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/spf13/cobra"
)

func newSimulateCommand(logOpts *logOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "simulate",
		Short: "Show one breaker tripping, probing and closing under the default policy",
		Long: `simulate drives one upstream's breaker through its life under the default policy:
five failures within a minute open it, it rejects calls for 30 seconds, one probe is
let through, the probe fails and re-opens it, and after another 30 seconds a probe
succeeds and closes it. Time is simulated, so it ends at once; every
transition is logged as the agent would log it, stamped with the simulated time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runSimulation(cmd.Context(), logger)
		},
	}
}

// simClock is the simulation's wall clock.
type simClock struct {
	mu    sync.Mutex
	start time.Time
	now   time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) advance(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now.Sub(c.start)
}

// simTimeHandler stamps log records with the simulated time.
type simTimeHandler struct {
	slog.Handler
	clk *simClock
}

func (h simTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = h.clk.Now()
	return h.Handler.Handle(ctx, r)
}

func (h simTimeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return simTimeHandler{h.Handler.WithAttrs(as), h.clk}
}

func (h simTimeHandler) WithGroup(name string) slog.Handler {
	return simTimeHandler{h.Handler.WithGroup(name), h.clk}
}

func runSimulation(_ context.Context, logger *slog.Logger) error {
	start := time.Now()
	clk := &simClock{start: start, now: start}
	logger = slog.New(simTimeHandler{logger.Handler(), clk})
	tb, err := state.NewTable(state.Config{Node: "sim", Now: clk.Now, Logger: logger})
	if err != nil {
		return err
	}
	const proxy = "http://203.0.113.7:3128"
	pol := tb.Policy()
	logger.Info("default breaker policy",
		"failure_threshold", pol.FailureThreshold, "window", pol.Window,
		"open_timeout", pol.OpenTimeout, "half_open_probes", pol.HalfOpenProbes)

	call := func(outcome state.Outcome) error {
		tk, err := tb.Admit(proxy)
		if err != nil {
			logger.Info("call rejected", "upstream", proxy, "err", err)
			return err
		}
		tb.Settle(tk, outcome, 40*time.Millisecond)
		logger.Info("call", "upstream", proxy, "probe", tk.Probe(), "outcome", outcome)
		return nil
	}

	for range 5 {
		clk.advance(2 * time.Second)
		if err := call(state.OutcomeFailure); err != nil {
			return fmt.Errorf("simulate: a call was rejected before the breaker tripped: %w", err)
		}
	}
	clk.advance(10 * time.Second)
	if err := call(state.OutcomeSuccess); !errors.Is(err, state.ErrOpen) {
		return errors.New("simulate: the breaker did not open after five failures")
	}
	clk.advance(pol.OpenTimeout)
	if err := call(state.OutcomeFailure); err != nil {
		return fmt.Errorf("simulate: no probe after the open time: %w", err)
	}
	clk.advance(pol.OpenTimeout)
	if err := call(state.OutcomeSuccess); err != nil {
		return fmt.Errorf("simulate: no probe after the second open time: %w", err)
	}
	if got := tb.State(proxy); got != state.PhaseClosed {
		return fmt.Errorf("simulate: breaker is %v after a successful probe, want closed", got)
	}
	rec, _ := tb.Record(proxy)
	logger.Info("simulation done", "upstream", proxy, "phase", rec.Phase, "gen", rec.Gen, "simulated", clk.advance(0))
	return nil
}
