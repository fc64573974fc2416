package state

import (
	"fmt"
	"strconv"
)

// Phase is where a breaker stands. Phases are wire values: they start at 1 so
// that 0 means unset, and they are append-only. Within one generation the
// phases are ordered open < half-open < closed, which is what lets a close
// beat the open it ends.
type Phase uint8

const (
	PhaseOpen     Phase = 1 // rejecting calls until its open time runs out
	PhaseHalfOpen Phase = 2 // letting a few probes through to test recovery
	PhaseClosed   Phase = 3 // letting every call through
)

// String returns "open", "half-open", "closed", or "phase(N)".
func (p Phase) String() string {
	switch p {
	case PhaseOpen:
		return "open"
	case PhaseHalfOpen:
		return "half-open"
	case PhaseClosed:
		return "closed"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Outcome is what became of an admitted call. The zero value,
// OutcomeAbandoned, is the safe one: it returns a probe permit and counts
// nothing.
type Outcome uint8

const (
	// OutcomeAbandoned: the call did not finish (cancelled, panicked, never
	// sent). A probe permit is returned; nothing is counted.
	OutcomeAbandoned Outcome = iota
	// OutcomeSuccess: the upstream worked.
	OutcomeSuccess
	// OutcomeFailure: the upstream failed (connect error, timeout, listed
	// status, ban).
	OutcomeFailure
)

// String returns "abandoned", "success", "failure", or "outcome(N)".
func (o Outcome) String() string {
	switch o {
	case OutcomeAbandoned:
		return "abandoned"
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Source says where a transition came from. Sources start at 1; 0 means
// unset. Append-only.
type Source uint8

const (
	SourceLocal  Source = 1 // this node's own outcomes, clock and evidence
	SourceManual Source = 2 // an operator: Trip, Reset, PutFact, DeleteFact
	SourceGossip Source = 3 // another node, through the cluster
	SourceLedger Source = 4 // the shared ledger
)

// String returns "local", "manual", "gossip", "ledger", or "source(N)".
func (s Source) String() string {
	switch s {
	case SourceLocal:
		return "local"
	case SourceManual:
		return "manual"
	case SourceGossip:
		return "gossip"
	case SourceLedger:
		return "ledger"
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the phase's name, so that logs and JSON show "open".
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a phase's name.
func (p *Phase) UnmarshalText(b []byte) error {
	for _, c := range []Phase{PhaseOpen, PhaseHalfOpen, PhaseClosed} {
		if string(b) == c.String() {
			*p = c
			return nil
		}
	}
	return fmt.Errorf("state: unknown phase %q (want open, half-open or closed)", b)
}

// MarshalText returns the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// MarshalText returns the source's name.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
