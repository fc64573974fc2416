package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
)

func TestClient(t *testing.T) {
	f := newFixture(t, Config{Version: "v1"})
	cl := f.cl
	ctx := context.Background()

	if h, err := cl.Health(ctx); err != nil || h.Status != "ok" || h.Version != "v1" {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if r, err := cl.Ready(ctx); err != nil || !r.Ready {
		t.Fatalf("Ready = %+v, %v", r, err)
	}
	if ms, err := cl.Members(ctx); err != nil || len(ms) != 1 || ms[0].Name != "local" {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	bs, err := cl.Breakers(ctx, "")
	if err != nil || len(bs) != 3 {
		t.Fatalf("Breakers = %+v, %v", bs, err)
	}

	key := f.keys[0]
	b, err := cl.Trip(ctx, key, time.Minute, "maintenance")
	if err != nil || b.Phase != "open" || b.Reason != "maintenance" || b.Gen != 1 || b.Eligible {
		t.Fatalf("Trip = %+v, %v", b, err)
	}
	open, err := cl.Breakers(ctx, "open")
	if err != nil || len(open) != 1 || open[0].Upstream != key {
		t.Fatalf("Breakers(open) = %+v, %v", open, err)
	}
	if b, err := cl.Breaker(ctx, key); err != nil || b.Phase != "open" || b.OpenFor == "" {
		t.Fatalf("Breaker = %+v, %v", b, err)
	}
	if b, err := cl.Reset(ctx, key); err != nil || b.Phase != "closed" {
		t.Fatalf("Reset = %+v, %v", b, err)
	}

	// Errors come back as *Error with the API's status, code and message.
	_, err = cl.Breaker(ctx, "http://10.9.9.9:1")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Code != CodeNotFound || !strings.Contains(ae.Message, "10.9.9.9") {
		t.Fatalf("Breaker(unknown) = %v", err)
	}
	if _, err := cl.Trip(ctx, key, time.Millisecond, ""); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("Trip(1ms) = %v", err)
	}
	anon := NewClient(f.srv.URL, "", f.srv.Client())
	if _, err := anon.Trip(ctx, key, 0, ""); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("Trip without token = %v", err)
	}

	// Policy: patched fleet-wide, validated as a whole.
	raw, err := cl.PatchPolicy(ctx, map[string]any{"retry": map[string]any{"max_attempts": 4, "base_delay": "250ms"}})
	if err != nil || !strings.Contains(string(raw), `"max_attempts":4`) {
		t.Fatalf("PatchPolicy = %s, %v", raw, err)
	}
	raw, err = cl.PolicyJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := policy.ParseDocument(raw)
	if err != nil || d.Retry.MaxAttempts != 4 || d.Retry.BaseDelay != 250*time.Millisecond {
		t.Fatalf("Policy = %+v, %v", d, err)
	}
	if f.c.Document().Retry.MaxAttempts != 4 {
		t.Errorf("coordinator's document not updated")
	}
	if _, err := cl.PatchPolicy(ctx, []byte(`{"retry":{"max_attempts":0.5}}`)); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("PatchPolicy(bad) = %v", err)
	}

	// Pool.
	u, err := cl.AddUpstream(ctx, "http://bob:hunter2@127.0.0.1:9", map[string]string{"region": "ap"})
	if err != nil || u.Upstream != "http://127.0.0.1:9" || u.Region != "ap" || strings.Contains(u.URL, "hunter2") {
		t.Fatalf("AddUpstream = %+v, %v", u, err)
	}
	if _, err := cl.AddUpstream(ctx, "gopher://bob:hunter2@x", nil); !errors.As(err, &ae) || ae.Status != 400 || strings.Contains(ae.Message, "hunter2") {
		t.Fatalf("AddUpstream(bad) = %v", err)
	}
	pool, err := cl.Pool(ctx)
	if err != nil || len(pool) != 4 {
		t.Fatalf("Pool = %+v, %v", pool, err)
	}
	if err := cl.RemoveUpstream(ctx, "http://127.0.0.1:9"); err != nil {
		t.Fatalf("RemoveUpstream: %v", err)
	}
	if err := cl.RemoveUpstream(ctx, "http://127.0.0.1:9"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("RemoveUpstream again = %v", err)
	}

	// Select and report, as a thin client would.
	sel, err := cl.Select(ctx, "", f.keys[0], f.keys[1])
	if err != nil || sel.Upstream != f.keys[2] {
		t.Fatalf("Select = %+v, %v", sel, err)
	}
	if sel.Upstream == f.cred && !strings.Contains(sel.ProxyURL, secretPW) {
		t.Errorf("Select's proxy URL lacks the credentials: %s", sel.ProxyURL)
	}
	rr, err := cl.Report(ctx, ReportRequest{Upstream: sel.Upstream, Outcome: "success", Status: 200, Latency: "30ms"})
	if err != nil || rr.Phase != "closed" {
		t.Fatalf("Report = %+v, %v", rr, err)
	}
	for _, k := range f.keys {
		f.c.Table().Trip(k, time.Minute, "down")
	}
	if _, err := cl.Select(ctx, ""); !errors.As(err, &ae) || ae.Status != 503 || ae.Code != CodeNoUpstream {
		t.Fatalf("Select with every breaker open = %v", err)
	}

	// Metrics.
	sum, err := cl.Summary(ctx)
	if err != nil || sum.Attempts != 1 || sum.Successes != 1 || sum.MeanLatency != "30ms" {
		t.Fatalf("Summary = %+v, %v", sum, err)
	}
	ts, err := cl.TimeSeries(ctx, 3)
	if err != nil || len(ts) != 1 || ts[0].Attempts != 1 {
		t.Fatalf("TimeSeries = %+v, %v", ts, err)
	}
	ps, err := cl.ByProxy(ctx, 0)
	want := []ProxyStats{{Upstream: sel.Upstream, Attempts: 1, Successes: 1, SuccessRate: 1, MeanLatency: "30ms"}}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("ByProxy (-want +got):\n%s", diff)
	}
	if _, err := cl.ByProxy(ctx, 169); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("ByProxy(169) = %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "trip events recorded", func() bool {
		evs, err := cl.Events(ctx, 1)
		return err == nil && len(evs) >= 5 // trip, reset, three trips
	})
}

// TestWatch: a trip through the API arrives on the event stream; the
// stream ends when the context does, and when the Handler is closed.
func TestWatch(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Transition, 64)
	done := make(chan error, 1)
	go func() {
		done <- f.cl.Watch(ctx, func(tr Transition) error {
			got <- tr
			return nil
		})
	}()
	// The stream subscribes asynchronously: trip until a trip arrives.
	key := f.keys[1]
	var tr Transition
	testutil.Eventually(t, 5*time.Second, "a trip on the stream", func() bool {
		if _, err := f.cl.Trip(context.Background(), key, time.Minute, "watched"); err != nil {
			t.Fatal(err)
		}
		select {
		case tr = <-got:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	if tr.Kind != "breaker" || tr.Upstream != key || tr.To != "open" || tr.Source != "manual" || tr.Reason != "watched" || tr.OpenFor == "" {
		t.Errorf("transition = %+v", tr)
	}
	// Pool facts are streamed without their value (credentials).
	if _, err := f.cl.AddUpstream(context.Background(), "http://bob:hunter2@127.0.0.1:9", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the pool fact", func() bool {
		select {
		case tr = <-got:
			return tr.Kind == "pool"
		default:
			return false
		}
	})
	if tr.Upstream != "http://127.0.0.1:9" {
		t.Errorf("pool transition = %+v", tr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch after cancel = %v", err)
	}

	// Close ends open streams.
	testutil.Eventually(t, 5*time.Second, "the first stream to end", func() bool { return !streamOpen(f.h) })
	done2 := make(chan error, 1)
	go func() { done2 <- f.cl.Watch(context.Background(), func(Transition) error { return nil }) }()
	testutil.Eventually(t, 5*time.Second, "the stream to open", func() bool {
		return streamOpen(f.h)
	})
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done2; err != nil {
		t.Errorf("Watch after Close = %v", err)
	}
	_ = f.h.Close() // idempotent
	if _, err := f.cl.Breakers(context.Background(), ""); err != nil {
		t.Errorf("reads after Close: %v", err)
	}
}

// streamOpen reports whether a stream is being served, by taking the
// WaitGroup's view through a probe: a stream holds a table subscription.
func streamOpen(h *Handler) bool {
	h.streamsMu.Lock()
	defer h.streamsMu.Unlock()
	return h.open > 0
}

func TestWatchHeartbeatAndRawStream(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/events", nil)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 512)
	for !strings.Contains(string(buf), ": heartbeat") {
		n, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, buf)
		}
		buf = append(buf, tmp[:n]...)
	}
	f.c.Table().Trip(f.keys[0], 0, "raw")
	for !strings.Contains(string(buf), "event: transition\ndata: {") {
		n, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, buf)
		}
		buf = append(buf, tmp[:n]...)
	}
}
