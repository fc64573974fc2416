package redisledger

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

// readCount bounds the entries one XREAD returns.
const readCount = 512

// readLoop follows the change stream with XREAD (every node reads every
// entry; no consumer groups) from the position the last snapshot recorded,
// and merges other nodes' records into the store. It waits while Redis is
// down. Each XREAD blocks for at most ReadBlock, and shutdown ends it at
// once through the ledger's wake stream (see wakeReader).
func (l *Ledger) readLoop(ctx context.Context) {
	for {
		if !l.health.wait(ctx) {
			return
		}
		from := l.position()
		res, err := l.client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{l.keys.stream, l.keys.wake, from, "0-0"},
			Count:   readCount,
			Block:   l.cfg.ReadBlock,
		}).Result()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, redis.Nil): // nothing new within ReadBlock
			continue
		case isOutage(err):
			l.down(err)
			continue
		case err != nil: // a reply, not an outage: do not spin on it
			l.log.Debug("redis ledger stream read failed", logkey.Err, err)
			if !sleep(ctx, l.cfg.ReadBlock) {
				return
			}
			continue
		}
		last := from
		serverNow := l.serverNowMs()
		for _, s := range res {
			if s.Stream != l.keys.stream {
				continue // the wake stream: shutdown is under way
			}
			for _, m := range s.Messages {
				l.applyEntry(m, serverNow)
				last = m.ID
			}
		}
		l.advance(from, last)
	}
}

// applyEntry merges one stream entry, skipping this node's own.
func (l *Ledger) applyEntry(m redis.XMessage, serverNow int64) {
	if o, _ := m.Values["o"].(string); o == l.node {
		l.stats.echoes.Add(1)
		return
	}
	enc, _ := m.Values["r"].(string)
	ts, _ := m.Values["t"].(string)
	rec, err := decodeRecord([]byte(enc))
	written, terr := strconv.ParseInt(ts, 10, 64)
	if err != nil || terr != nil {
		l.stats.invalid.Add(1)
		l.log.Debug("redis ledger: invalid stream entry", "id", m.ID)
		return
	}
	l.merge(rec, written, serverNow)
}

// merge brings an open record's remaining time up to date (it counts from
// written, the server's time of the write) and merges it into the store.
func (l *Ledger) merge(rec state.Record, written, serverNow int64) {
	if rec.Phase == state.PhaseOpen && rec.IsBreaker() {
		elapsed := time.Duration(max(0, serverNow-written)) * time.Millisecond
		rec.OpenFor = max(0, rec.OpenFor-elapsed)
	}
	if l.store.Merge(rec, state.SourceLedger) {
		l.stats.received.Add(1)
	}
}

// position returns the stream id to read after.
func (l *Ledger) position() string {
	l.streamMu.Lock()
	defer l.streamMu.Unlock()
	if l.lastID == "" {
		return "$"
	}
	return l.lastID
}

// advance moves the read position from from to to, unless a snapshot set a
// new position meanwhile.
func (l *Ledger) advance(from, to string) {
	l.streamMu.Lock()
	if l.lastID == from || l.lastID == "" {
		l.lastID = to
	}
	l.streamMu.Unlock()
}

func (l *Ledger) setPosition(id string) {
	l.streamMu.Lock()
	l.lastID = id
	l.streamMu.Unlock()
}

// serverNowMs estimates the Redis server's clock from ours and the offset
// measured at the last snapshot.
func (l *Ledger) serverNowMs() int64 {
	return time.Now().UnixMilli() + l.offsetMs.Load()
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
