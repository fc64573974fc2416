package forward

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawGet sends one absolute-form GET for target to the proxy at purl over
// a connection of its own and returns the answer's head as sent (the
// lines up to the blank one) and the answer as net/http reads it, its
// body not yet read.
func rawGet(t *testing.T, purl, target string) (head string, resp *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(purl, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	host := strings.SplitN(strings.SplitN(target, "://", 2)[1], "/", 2)[0]
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	br := bufio.NewReader(io.TeeReader(conn, &raw))
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ = strings.Cut(raw.String(), "\r\n\r\n")
	return head, resp
}

// TestUnsupportedSchemeIs400: an absolute-form request for a scheme the
// proxy does not carry is answered 400 naming it, and goes nowhere.
func TestUnsupportedSchemeIs400(t *testing.T) {
	up := newCountingUpstream(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, up.srv.URL)})
	_, resp := rawGet(t, purl, "ftp://files.test/report.csv")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || string(body) != "retrycoord: unsupported scheme \"ftp\" (want http or https)\n" {
		t.Fatalf("got %d %q, want 400 naming the scheme", resp.StatusCode, body)
	}
	if p.Stats().BadRequests != 1 || up.requests.Load() != 0 {
		t.Errorf("BadRequests %d, upstream requests %d; want 1 and 0", p.Stats().BadRequests, up.requests.Load())
	}
}

// TestTrailersRelayed: an answer's trailers are announced in the header
// (Trailer) and arrive after the body; an answer without trailers
// announces none.
func TestTrailersRelayed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			_, _ = io.WriteString(w, "no trailers")
			return
		}
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "payload")
		w.Header().Set("X-Checksum", "c0ffee")
	}))
	t.Cleanup(up.Close)
	_, purl := serve(t, Config{Coordinator: newCoord(t, up.URL)})

	_, resp := rawGet(t, purl, "http://example.test/with")
	if _, announced := resp.Trailer["X-Checksum"]; !announced {
		t.Errorf("trailers announced before the body: %v, want X-Checksum", resp.Trailer)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "payload" {
		t.Errorf("body %q, want \"payload\"", body)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "c0ffee" {
		t.Errorf("trailer X-Checksum %q after the body, want \"c0ffee\"", got)
	}

	head, resp := rawGet(t, purl, "http://example.test/plain")
	_, _ = io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "trailer:") {
			t.Errorf("an answer without trailers announced %q", line)
		}
	}
}

// TestStreamedBodiesFlushed: an event stream, whatever its length, and any
// body of unknown length (chunked) reach the client as they come, not once
// the upstream has finished: the first piece is read while the upstream
// still holds the rest. The fake upstream proxy answers itself, flushing
// (testproxy does not flush what it forwards), and gives up waiting after
// 10s, noting it, so that a proxy that buffers fails the test instead of
// hanging it.
func TestStreamedBodiesFlushed(t *testing.T) {
	tests := []struct {
		name, contentType string
		knownLength       bool
	}{
		{"event stream", "text/event-stream", false},
		{"event stream of known length", "text/event-stream; charset=utf-8", true},
		{"chunked text", "text/plain", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var gaveUpWaiting atomic.Bool
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				if tt.knownLength {
					w.Header().Set("Content-Length", "22") // both events
				}
				_, _ = io.WriteString(w, "data: one\n\n")
				_ = http.NewResponseController(w).Flush()
				select {
				case <-release:
				case <-time.After(10 * time.Second):
					gaveUpWaiting.Store(true)
				case <-r.Context().Done():
				}
				_, _ = io.WriteString(w, "data: two\n\n")
			}))
			t.Cleanup(up.Close)
			_, purl := serve(t, Config{Coordinator: newCoord(t, up.URL)})
			resp, err := client(t, purl, nil, true).Get("http://example.test/events")
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			close(release)
			if err != nil || line != "data: one\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			if gaveUpWaiting.Load() {
				t.Fatal("the first line arrived only once the upstream had finished: the body was buffered")
			}
			if rest, _ := io.ReadAll(br); string(rest) != "\ndata: two\n\n" {
				t.Errorf("rest %q", rest)
			}
		})
	}
}

// countingUpstream is a fake upstream proxy that answers 200 itself and
// counts the requests it got.
type countingUpstream struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	u := &countingUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}
