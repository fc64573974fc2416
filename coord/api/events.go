package api

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api/client"
	"github.com/proxywhirl/retrycoord/state"
)

// StreamBuffer is the subscription buffer of one event stream; a client
// that falls further behind misses transitions (counted in
// retrycoord_subscription_drops_total).
const StreamBuffer = 256

// transition converts a table transition for the wire. Fact values are
// left out: pool entries carry credentials.
func transition(tr state.Transition) Transition {
	rec := tr.Record
	out := Transition{
		Kind: rec.Kind.String(), Upstream: rec.Upstream, Source: tr.Source.String(), Origin: rec.Origin,
		HLC: uint64(rec.HLC), Deleted: rec.Deleted,
	}
	if rec.HLC != 0 {
		out.Time = rec.HLC.Time().UTC()
	}
	if isBreaker(rec) {
		out.Level, out.Site = rec.Key().Level().String(), rec.Site
		out.From, out.To, out.Gen, out.Reason = tr.From.String(), rec.Phase.String(), rec.Gen, rec.Reason
		if rec.OpenFor > 0 {
			out.OpenFor = roundOpenFor(rec.OpenFor)
		}
	}
	return out
}

// stream serves GET /v1/events: Server-Sent Events, one "transition" event
// per change to the table, a comment every heartbeat, until the client goes
// or Close is called.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h.streamsMu.Lock()
	if h.closed {
		h.streamsMu.Unlock()
		writeError(w, http.StatusServiceUnavailable, CodeNotReady, "api: shutting down")
		return
	}
	h.streams.Add(1)
	sub := h.c.Table().Subscribe(StreamBuffer)
	h.open++
	h.streamsMu.Unlock()
	defer func() {
		sub.Close()
		h.streamsMu.Lock()
		h.open--
		h.streamsMu.Unlock()
		h.streams.Done()
	}()
	_ = rc.SetWriteDeadline(time.Time{}) // a long-lived stream outlives a server's WriteTimeout
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(": subscribed\n\n")); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		case <-tick.C:
			_, err = w.Write([]byte(": heartbeat\n\n"))
		case tr, ok := <-sub.C:
			if !ok {
				return
			}
			b, _ := json.Marshal(transition(tr)) // strings and numbers: cannot fail
			_, err = w.Write(append(append([]byte("event: transition\ndata: "), b...), '\n', '\n'))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// transitionCounter counts breaker transitions by phase entered and source
// for /metrics, and keeps the propagation delays of every other node's
// records for /v1/view, from its own subscription.
type transitionCounter struct {
	sub  *state.Subscription
	self string
	now  func() time.Time
	done chan struct{}
	once sync.Once

	mu     sync.Mutex // guards counts, delays and the feed
	counts map[[2]string]uint64
	delays map[string]*delayRing // by origin
	feed   []state.Transition    // ring of the last client.FeedSize breaker transitions
	next   int                   // slot of the next one in feed
}

func newTransitionCounter(tb *state.Table) *transitionCounter {
	tc := &transitionCounter{
		sub: tb.Subscribe(4096), self: tb.Node(), now: time.Now, done: make(chan struct{}),
		counts: map[[2]string]uint64{}, delays: map[string]*delayRing{},
	}
	go tc.run()
	return tc
}

func (tc *transitionCounter) run() {
	defer close(tc.done)
	for tr := range tc.sub.C {
		rec := tr.Record
		remote := (tr.Source == state.SourceGossip || tr.Source == state.SourceLedger) &&
			rec.Origin != "" && rec.Origin != tc.self && rec.HLC != 0
		var d time.Duration
		if remote {
			d = max(0, tc.now().Sub(rec.HLC.Time()))
		}
		tc.mu.Lock()
		if isBreaker(rec) {
			tc.counts[[2]string{rec.Phase.String(), tr.Source.String()}]++
			if len(tc.feed) < client.FeedSize {
				tc.feed = append(tc.feed, tr)
			} else {
				tc.feed[tc.next] = tr
			}
			tc.next = (tc.next + 1) % client.FeedSize
		}
		if remote {
			r := tc.delays[rec.Origin]
			if r == nil {
				if len(tc.delays) >= maxDelayOrigins {
					tc.mu.Unlock()
					continue
				}
				r = &delayRing{}
				tc.delays[rec.Origin] = r
			}
			r.add(d)
		}
		tc.mu.Unlock()
	}
}

// recent returns the breaker transitions kept, oldest first, for the wire.
func (tc *transitionCounter) recent() []Transition {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make([]Transition, 0, len(tc.feed))
	for i := range tc.feed {
		out = append(out, transition(tc.feed[(tc.next+i)%len(tc.feed)])) // next is len(feed) until it wraps
	}
	return out
}

// maxDelayOrigins bounds the origins whose delays are kept: names come
// from the network.
const maxDelayOrigins = 4096

// delay summarizes the delays of an origin's last records, nil when none
// were seen.
func (tc *transitionCounter) delay(origin string) *Delay {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	r := tc.delays[origin]
	if r == nil || r.n == 0 {
		return nil
	}
	return r.summary()
}

func (tc *transitionCounter) snapshot() map[[2]string]uint64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make(map[[2]string]uint64, len(tc.counts))
	for k, v := range tc.counts {
		out[k] = v
	}
	return out
}

func (tc *transitionCounter) close() {
	tc.once.Do(tc.sub.Close)
	<-tc.done
}
