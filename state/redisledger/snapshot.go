package redisledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

// loadChunk bounds the keys read in one pipeline while loading.
const loadChunk = 512

// Snapshot loads every record in the ledger into the store (as
// state.SourceLedger), remembers where the change stream stood so that Run
// reads every later change, and re-asserts the store's own records (see
// Run). Call it before the node reports ready. It is bounded by
// SnapshotTimeout; when Redis cannot be reached it returns the error and the
// node should start anyway, degraded: Run keeps trying and reconciles once
// Redis answers. It returns how many records changed the store.
func (l *Ledger) Snapshot(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.SnapshotTimeout)
	defer cancel()
	before := l.stats.received.Load()
	if err := l.sync(ctx); err != nil {
		l.health.note()
		return 0, fmt.Errorf("redisledger: snapshot: %w", err)
	}
	l.health.markUp()
	return int(l.stats.received.Load() - before), nil
}

// Records returns every record the ledger holds, with open records' remaining
// time brought up to date. It is for tools and tests.
func (l *Ledger) Records(ctx context.Context) ([]state.Record, error) {
	recs, _, err := l.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("redisledger: records: %w", err)
	}
	return recs, nil
}

// sync loads the ledger into the store, moves the stream position to where
// the stream stood before the load, and re-asserts the store's records.
func (l *Ledger) sync(ctx context.Context) error {
	recs, head, err := l.load(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if l.store.Merge(r, state.SourceLedger) {
			l.stats.received.Add(1)
		}
	}
	l.setPosition(head)
	_ = casScript.Load(ctx, l.client).Err() // best effort: spares the flusher a NOSCRIPT round; EVAL covers a failure
	return l.reassert(ctx)
}

// load reads every record. The stream's head is read first, so that a change
// made during the load is read again from the stream (merging is
// idempotent). Index members whose key has expired are removed.
func (l *Ledger) load(ctx context.Context) ([]state.Record, string, error) {
	t0 := time.Now()
	head, err := headScript.Run(ctx, l.client, []string{l.keys.stream}).Slice()
	if err != nil {
		return nil, "", err
	}
	if len(head) != 3 {
		return nil, "", errors.New("redisledger: unexpected reply to the head script")
	}
	sec, _ := strconv.ParseInt(fmt.Sprint(head[0]), 10, 64)
	usec, _ := strconv.ParseInt(fmt.Sprint(head[1]), 10, 64)
	serverNow := sec*1000 + usec/1000
	localMid := t0.Add(time.Since(t0) / 2).UnixMilli()
	l.offsetMs.Store(serverNow - localMid)
	headID := fmt.Sprint(head[2])

	keys, err := l.indexKeys(ctx)
	if err != nil {
		return nil, "", err
	}
	var recs []state.Record
	var gone []string
	for chunk := range slices.Chunk(keys, loadChunk) {
		pipe := l.client.Pipeline()
		cmds := make([]*redis.SliceCmd, len(chunk))
		for i, k := range chunk {
			cmds[i] = pipe.HMGet(ctx, k, "r", "t")
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		for i, c := range cmds {
			if err := c.Err(); isOutage(err) {
				return nil, "", err
			} else if err != nil { // a reply such as WRONGTYPE: skip the key, count it
				l.stats.invalid.Add(1)
				continue
			}
			v := c.Val()
			if len(v) != 2 || v[0] == nil {
				gone = append(gone, chunk[i])
				continue
			}
			enc, _ := v[0].(string)
			ts, _ := v[1].(string)
			rec, err := decodeRecord([]byte(enc))
			written, terr := strconv.ParseInt(ts, 10, 64)
			if err != nil || terr != nil {
				l.stats.invalid.Add(1)
				continue
			}
			if rec.Phase == state.PhaseOpen && rec.IsBreaker() {
				elapsed := time.Duration(max(0, serverNow-written)) * time.Millisecond
				rec.OpenFor = max(0, rec.OpenFor-elapsed)
			}
			recs = append(recs, rec)
		}
	}
	for chunk := range slices.Chunk(gone, loadChunk) { // expired open records: prune the index
		keys := append([]string{l.keys.index}, chunk...)
		if err := pruneScript.Run(ctx, l.client, keys).Err(); isOutage(err) {
			return nil, "", err
		} // any other error leaves the members for the next load: best effort
	}
	return recs, headID, nil
}

// indexKeys returns the members of the index set, without duplicates.
func (l *Ledger) indexKeys(ctx context.Context) ([]string, error) {
	seen := make(map[string]struct{})
	var keys []string
	var cursor uint64
	for {
		batch, next, err := l.client.SScan(ctx, l.keys.index, cursor, "", 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range batch {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				keys = append(keys, k)
			}
		}
		if cursor = next; cursor == 0 {
			return keys, nil
		}
	}
}

// reassert writes the store's records that the ledger must hold: every one
// of this node's own, and every other breaker that is not closed (in case
// its origin is gone). The compare-and-set makes this idempotent.
func (l *Ledger) reassert(ctx context.Context) error {
	var items []item
	now := time.Since(l.epoch)
	for _, r := range l.store.Snapshot() {
		if r.Origin == l.node || r.IsBreaker() && r.Phase != state.PhaseClosed {
			items = append(items, item{rec: r, at: now})
		}
	}
	for chunk := range slices.Chunk(items, l.cfg.MaxBatch) {
		if !l.write(ctx, chunk) {
			return errors.New("redisledger: reconcile: redis unreachable")
		}
	}
	l.stats.reconciled.Add(uint64(len(items)))
	return nil
}

// reconcileLoop brings Redis back into use after an outage (or a degraded
// start): it retries with a doubling wait, capped at RetryMax, until a sync
// succeeds, and only then lets the flusher and the reader go on. While Redis
// is up it re-asserts the store's records after its subscription dropped any.
func (l *Ledger) reconcileLoop(ctx context.Context) {
	const firstWait = 50 * time.Millisecond
	wait := firstWait
	tick := time.NewTicker(max(l.cfg.RetryMax, 100*time.Millisecond))
	defer tick.Stop()
	dropped := l.sub.Dropped()
	for {
		if !l.health.isUp() {
			d := l.sub.Dropped()
			sctx, cancel := context.WithTimeout(ctx, l.cfg.SnapshotTimeout)
			err := l.sync(sctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				dropped, wait = d, firstWait
				if l.health.markUp() {
					l.log.Info("redis ledger reachable again; reconciled", "records", l.stats.reconciled.Load())
				}
				continue
			}
			if !sleep(ctx, wait) {
				return
			}
			wait = min(2*wait, l.cfg.RetryMax)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-l.health.kick:
		case <-tick.C:
			if d := l.sub.Dropped(); d != dropped {
				sctx, cancel := context.WithTimeout(ctx, l.cfg.SnapshotTimeout)
				if l.reassert(sctx) == nil {
					dropped = d
				}
				cancel()
			}
		}
	}
}
