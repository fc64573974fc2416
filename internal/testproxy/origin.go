package testproxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Origin is an httptest server standing for the target site. By default it
// answers 200 with the body "ok"; Script makes its next answers fail. It is
// safe for concurrent use.
type Origin struct {
	// URL is the origin's base URL, "http://127.0.0.1:port".
	URL string

	srv      *httptest.Server
	requests atomic.Int64

	mu      sync.Mutex // guards script, header and handler
	script  []Answer
	handler http.Handler
}

// Answer is one scripted answer of an Origin.
type Answer struct {
	Status int               // 0: 200
	Header map[string]string // extra headers, e.g. Retry-After
	Body   string            // default: "ok" for 2xx, else the status text
}

// NewOrigin starts an origin on a free loopback port, closed by t.Cleanup.
func NewOrigin(t testing.TB) *Origin {
	t.Helper()
	o := &Origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	o.URL = o.srv.URL
	t.Cleanup(o.Close)
	return o
}

// NewTLSOrigin is NewOrigin over HTTPS with httptest's certificate; use
// Client().Transport's TLS config (or InsecureSkipVerify) to reach it.
func NewTLSOrigin(t testing.TB) *Origin {
	t.Helper()
	o := &Origin{}
	o.srv = httptest.NewTLSServer(http.HandlerFunc(o.serve))
	o.URL = o.srv.URL
	t.Cleanup(o.Close)
	return o
}

// Server returns the underlying httptest server.
func (o *Origin) Server() *httptest.Server { return o.srv }

// Script queues answers for the next requests, in order; once they are used
// up the origin answers 200 again.
func (o *Origin) Script(answers ...Answer) {
	o.mu.Lock()
	o.script = append(o.script, answers...)
	o.mu.Unlock()
}

// ScriptStatus queues plain answers with the given statuses.
func (o *Origin) ScriptStatus(codes ...int) {
	as := make([]Answer, len(codes))
	for i, c := range codes {
		as[i] = Answer{Status: c}
	}
	o.Script(as...)
}

// Handle replaces the default answer (200 "ok") with h. Scripted answers
// still come first.
func (o *Origin) Handle(h http.Handler) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

// Requests returns how many requests the origin has seen.
func (o *Origin) Requests() int64 { return o.requests.Load() }

// Close shuts the origin down. It is idempotent.
func (o *Origin) Close() { o.srv.Close() }

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	o.mu.Lock()
	var a *Answer
	if len(o.script) > 0 {
		a = &o.script[0]
		o.script = o.script[1:]
	}
	h := o.handler
	o.mu.Unlock()
	if a == nil {
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		a = &Answer{}
	}
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	body := a.Body
	if body == "" {
		body = "ok"
		if status >= 300 {
			body = fmt.Sprintf("%d %s", status, http.StatusText(status))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
