package forward

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/coord"
)

// TestFailRedactsPasswords: an upstream's password never reaches the
// client's 502 or the log, whatever error text carries it; what the error
// said otherwise does, so that the client can tell why.
func TestFailRedactsPasswords(t *testing.T) {
	const secret = "s3cret-pw"
	c := newCoord(t, "http://scraper:"+secret+"@127.0.0.1:1")
	var logged bytes.Buffer
	p, err := New(Config{Coordinator: c, Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	key := c.Upstreams()[0].Key()
	leaky := errors.New("proxyconnect http://scraper:" + secret + "@127.0.0.1:1: connection refused")
	tests := []struct {
		name     string
		err      error
		code     int
		contains string
	}{
		{"gave up", &coord.GiveUpError{Attempts: 2, Upstream: key, Last: leaky}, http.StatusBadGateway,
			"gave up after 2 attempts; last upstream " + key + ": proxyconnect http://scraper:xxxxx@127.0.0.1:1: connection refused"},
		{"other error", leaky, http.StatusBadGateway, "retrycoord: proxyconnect http://scraper:xxxxx@127.0.0.1:1: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logged.Reset()
			w := httptest.NewRecorder()
			p.fail(w, httptest.NewRequest(http.MethodGet, "http://origin.test/", nil), tt.err)
			body := w.Body.String()
			if w.Code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("answer %d %q, want %d containing %q", w.Code, body, tt.code, tt.contains)
			}
			if strings.Contains(body, secret) {
				t.Errorf("the password reached the client: %q", body)
			}
			if logged.Len() == 0 {
				t.Error("nothing logged at Debug: the redaction of the log is not checked")
			}
			if strings.Contains(logged.String(), secret) {
				t.Errorf("the password reached the log: %s", logged.String())
			}
		})
	}
}

// TestFailFatalIs400: a request the coordinator refuses as malformed is
// the client's fault: 400, with the coordinator's reason.
func TestFailFatalIs400(t *testing.T) {
	p, err := New(Config{Coordinator: newCoord(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	w := httptest.NewRecorder()
	p.fail(w, httptest.NewRequest(http.MethodGet, "http://origin.test/", nil), coord.Fatal(errors.New("coord: request body: unexpected EOF")))
	if w.Code != http.StatusBadRequest || w.Body.String() != "retrycoord: bad request: request body: unexpected EOF\n" {
		t.Fatalf("answer %d %q, want 400 naming the reason", w.Code, w.Body.String())
	}
	if got := p.Stats().BadRequests; got != 1 {
		t.Errorf("Stats().BadRequests = %d, want 1", got)
	}
}
