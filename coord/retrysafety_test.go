package coord

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// deadProxy returns the URL of a loopback port nobody listens on.
func deadProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// TestPOSTRetriedWhenNothingWasSent: a POST that met a proxy refusing the
// connection provably sent nothing, so it is retried through another.
func TestPOSTRetriedWhenNothingWasSent(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	var mu sync.Mutex
	var bodies []string
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	dead := deadProxy(t)
	doc := policy.Document{Retry: fastRetry()}
	doc.Select.Strategy = policy.StrategyRoundRobin // at least one of the two POSTs starts at the dead proxy
	c, cl := setup(t, farm, Config{Pool: Entries(dead, farm.Proxies[0].URL()), Document: doc})
	for range 2 {
		resp, err := cl.Post(origin.URL, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
	}
	if len(bodies) != 2 {
		t.Errorf("origin got %d POSTs, want 2", len(bodies))
	}
	refused := 0
	for _, a := range c.Recorder().Attempts(0) {
		if a.Upstream == dead && a.Reason == ReasonConnect {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("no POST met the dead proxy: the test tested nothing")
	}
}

// TestLastEligibleOpeningIsErrNoUpstream: when the only proxy's breaker
// opens while a request waits to retry, the answer is ErrNoUpstream (503),
// not a GiveUpError (502).
func TestLastEligibleOpeningIsErrNoUpstream(t *testing.T) {
	farm := testproxy.Start(t, 1)
	farm.Proxies[0].Set(testproxy.Status(502))
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	// The first request's 3 failures do not reach FailureThreshold (5).
	_, _, err := get(t, cl, context.Background(), origin.URL)
	var gu *GiveUpError
	if !errors.As(err, &gu) {
		t.Fatalf("first request: %v, want a GiveUpError", err)
	}
	// The second opens the breaker at its 2nd attempt (the 5th failure).
	_, _, err = get(t, cl, context.Background(), origin.URL)
	if !errors.Is(err, ErrNoUpstream) || errors.As(err, &gu) {
		t.Fatalf("second request: %v, want ErrNoUpstream", err)
	}
	if got := farm.Requests(); got != 5 {
		t.Errorf("the proxy saw %d requests, want 5", got)
	}
}

// TestAttemptFailedLog: the Debug line of a failed attempt names its class
// and reason and carries the error, without the proxy's password.
func TestAttemptFailedLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dead := strings.Replace(deadProxy(t), "http://", "http://user:pw-s3cret@", 1)
	origin := testproxy.NewOrigin(t)
	rp := fastRetry()
	rp.MaxAttempts = 1
	_, cl := setup(t, nil, Config{Pool: Entries(dead), Document: policy.Document{Retry: rp}, Logger: logger})
	if _, _, err := get(t, cl, context.Background(), origin.URL); err == nil {
		t.Fatal("a dead proxy answered")
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{`msg="attempt failed"`, "class=failure", "reason=connect", "err=", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "pw-s3cret") {
		t.Errorf("log %q has the password", out)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
