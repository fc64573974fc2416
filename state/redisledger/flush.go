package redisledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

var errInvalid = errors.New("redisledger: invalid record: a breaker needs an upstream and a phase, a pool entry a key")

// flushLoop writes the Table's local and manual changes in batches while
// Redis is up. While it is down the subscription is left alone (the table
// drops and counts once it is full) and the reconciler re-asserts the table
// when Redis returns. When ctx is done it
// writes what is queued, bounded by FlushTimeout, and returns.
func (l *Ledger) flushLoop(ctx context.Context) {
	batch := make([]item, 0, l.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer func() { l.finalFlush(ctx, batch) }()
	for {
		if !l.health.wait(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case tr, ok := <-l.sub.C:
			if !ok {
				return
			}
			if it, ok := l.take(tr); ok {
				batch = append(batch, it)
			}
		}
		if len(batch) == 0 {
			continue
		}
		if l.cfg.FlushInterval > 0 {
			timer.Reset(l.cfg.FlushInterval)
		gather:
			for len(batch) < l.cfg.MaxBatch {
				select {
				case tr, ok := <-l.sub.C:
					if !ok {
						break gather
					}
					if it, ok := l.take(tr); ok {
						batch = append(batch, it)
					}
				case <-timer.C:
					break gather
				case <-ctx.Done():
					timer.Stop()
					return
				}
			}
			timer.Stop()
		}
		batch = l.drain(batch)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.FlushTimeout)
		l.write(wctx, batch)
		cancel()
		clear(batch)
		batch = batch[:0]
	}
}

// drain adds waiting changes to batch without waiting, up to MaxBatch.
func (l *Ledger) drain(batch []item) []item {
	for len(batch) < l.cfg.MaxBatch {
		select {
		case tr, ok := <-l.sub.C:
			if !ok {
				return batch
			}
			if it, ok := l.take(tr); ok {
				batch = append(batch, it)
			}
		default:
			return batch
		}
	}
	return batch
}

// finalFlush writes batch and whatever is queued, within FlushTimeout in
// all, if Redis is up.
func (l *Ledger) finalFlush(ctx context.Context, batch []item) {
	if !l.health.isUp() {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.FlushTimeout)
	defer cancel()
	for {
		batch = l.drain(batch)
		if len(batch) == 0 || wctx.Err() != nil || !l.write(wctx, batch) {
			return
		}
		batch = batch[:0]
	}
}

// write runs the compare-and-set for every item in one pipeline and counts
// the results. It reports false, and marks Redis down, when Redis could not
// be reached.
func (l *Ledger) write(ctx context.Context, items []item) bool {
	if len(items) == 0 {
		return true
	}
	items = l.valid(items)
	if len(items) == 0 {
		return true
	}
	now := time.Since(l.epoch)
	type call struct {
		keys []string
		args []any
	}
	calls := make([]call, len(items))
	cmds := make([]*redis.Cmd, len(items))
	pipe := l.client.Pipeline()
	for i := range items {
		calls[i].keys, calls[i].args = l.casArgs(items[i].rec, now-items[i].at)
		cmds[i] = pipe.EvalSha(ctx, casScript.Hash(), calls[i].keys, calls[i].args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error

	var retry []int
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 { // the script cache was flushed or the server restarted: EVAL loads it again
		pipe := l.client.Pipeline()
		for _, i := range retry {
			cmds[i] = pipe.Eval(ctx, casSource, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}

	var outage error
	for _, c := range cmds {
		n, err := c.Int()
		switch {
		case err == nil && n == 1:
			l.stats.applied.Add(1)
		case err == nil:
			l.stats.stale.Add(1)
		default:
			l.stats.failed.Add(1)
			if isOutage(err) {
				outage = err
			} else {
				l.log.Debug("redis ledger write rejected", logkey.Err, err)
			}
		}
	}
	if outage != nil {
		l.down(outage)
		return false
	}
	return true
}

// valid removes, in place, and counts the records no table would merge
// (validRecord).
func (l *Ledger) valid(items []item) []item {
	return slices.DeleteFunc(items, func(it item) bool {
		if validRecord(it.rec) {
			return false
		}
		l.stats.invalid.Add(1)
		return true
	})
}

// validRecord rejects breakers without an upstream or with an unknown
// phase, unknown kinds, and
// records beyond the codec's bounds (state.Record.Fits: what the ledger
// holds must be what gossip can carry).
func validRecord(r state.Record) bool {
	if !r.Fits() {
		return false
	}
	switch {
	case r.IsBreaker():
		return r.Key().Level() != 0 && r.Phase >= state.PhaseOpen && r.Phase <= state.PhaseClosed
	case r.Kind == state.KindPool:
		return r.Upstream != ""
	case r.Kind == state.KindPolicy:
		return true
	}
	return false
}

// casArgs returns the keys and arguments of the compare-and-set for rec,
// which was queued age ago: its remaining open time is brought up to date.
func (l *Ledger) casArgs(rec state.Record, age time.Duration) ([]string, []any) {
	var ttl time.Duration
	if rec.IsBreaker() {
		switch rec.Phase {
		case state.PhaseOpen:
			rec.OpenFor = max(0, rec.OpenFor-max(0, age))
			ttl = rec.OpenFor + l.cfg.OpenGrace
		case state.PhaseHalfOpen:
			ttl = l.cfg.OpenGrace
		}
	}
	ttlMs := int64(0)
	if ttl > 0 {
		ttlMs = max(1, ttl.Milliseconds())
	}
	keys := []string{l.keys.of(rec), l.keys.index, l.keys.stream}
	args := []any{compareKey(rec), encodeRecord(nil, rec), ttlMs, l.cfg.StreamMaxLen, rec.Origin}
	return keys, args
}

// Write runs the compare-and-set for one record synchronously and reports
// whether it changed the ledger. It is for tools and tests; the table's
// changes go through the ledger's subscription.
func (l *Ledger) Write(ctx context.Context, rec state.Record) (applied bool, err error) {
	if !validRecord(rec) {
		l.stats.invalid.Add(1)
		return false, errInvalid
	}
	keys, args := l.casArgs(rec, 0)
	n, err := casScript.Run(ctx, l.client, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("redisledger: write: %w", err)
	}
	if n == 1 {
		l.stats.applied.Add(1)
	} else {
		l.stats.stale.Add(1)
	}
	return n == 1, nil
}

// down marks Redis unreachable and logs the start of an outage once.
func (l *Ledger) down(err error) {
	if l.health.markDown() {
		l.stats.outages.Add(1)
		l.log.Warn("redis ledger unreachable; the node goes on without it", logkey.Err, err)
	}
}
