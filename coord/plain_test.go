package coord

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// step is one scripted answer of a rawProxy: raw bytes written as they
// are, then the connection is closed when close is set; hang reads the
// request and answers nothing until the proxy closes.
type step struct {
	raw   string
	close bool
	hang  bool
}

// ok200 is a plain keep-alive answer.
const ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// rawProxy is a TCP server standing for an upstream proxy: it reads
// requests with http.ReadRequest and answers each with the next scripted
// step (ok200 once the script is used up). It counts the connections it
// accepted and keeps the requests it read. It is closed by t.Cleanup.
type rawProxy struct {
	ln   net.Listener
	done chan struct{} // closed by Close: hanging steps end
	wg   sync.WaitGroup
	got  chan struct{} // a token per request read

	mu     sync.Mutex // guards the fields below
	script []step
	conns  []net.Conn
	reqs   []*http.Request
}

func newRawProxy(t *testing.T, script ...step) *rawProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rawProxy{ln: ln, done: make(chan struct{}), got: make(chan struct{}, 64), script: script}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *rawProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *rawProxy) close() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *rawProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *rawProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		st := step{raw: ok200}
		if len(p.script) > 0 {
			st, p.script = p.script[0], p.script[1:]
		}
		p.mu.Unlock()
		p.got <- struct{}{}
		if st.hang {
			<-p.done
			return
		}
		if _, err := io.WriteString(c, st.raw); err != nil || st.close {
			return
		}
	}
}

// counts returns the connections accepted and the requests read so far.
func (p *rawProxy) counts() (conns, reqs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns), len(p.reqs)
}

func (p *rawProxy) request(i int) *http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs[i]
}

// plainBase is the transport the forward proxy gives Transport: no
// compression, so that its plain requests take the plainPool.
func plainBase() *http.Transport {
	return &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
}

// plainRT returns a coordinator over the proxy at u and its Transport over
// base, both closed by t.Cleanup.
func plainRT(t *testing.T, u string, base *http.Transport) (*Coordinator, http.RoundTripper) {
	t.Helper()
	c, err := New(Config{Pool: Entries(u), Document: policy.Document{Retry: fastRetry()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Transport(base)
	t.Cleanup(func() {
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		_ = c.Close()
	})
	return c, rt
}

// roundTrip sends method target through rt and returns the answer with its
// body read to the end and closed.
func roundTrip(t *testing.T, rt http.RoundTripper, method, target string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return resp, string(b)
}

func TestPlainKeepsTheConnectionAlive(t *testing.T) {
	p := newRawProxy(t)
	_, rt := plainRT(t, p.url(), plainBase())
	for i := range 3 {
		if _, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/x"); body != "ok" {
			t.Fatalf("request %d: body %q, want \"ok\"", i, body)
		}
	}
	if conns, reqs := p.counts(); conns != 1 || reqs != 3 {
		t.Fatalf("the proxy saw %d requests on %d connections, want 3 on 1", reqs, conns)
	}
	r := p.request(0)
	if r.RequestURI != "http://origin.test/x" || r.Header.Get("Proxy-Authorization") != "" {
		t.Errorf("the proxy got %s %s with Proxy-Authorization %q, want the absolute form and none",
			r.Method, r.RequestURI, r.Header.Get("Proxy-Authorization"))
	}
}

// TestPlainLongBodyReadInPieces: a body that takes many reads arrives
// whole, and its connection serves the next request once it is read to
// its end (not before: a piece read is not the end).
func TestPlainLongBodyReadInPieces(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 4<<10) // 64 KiB: io.ReadAll starts with 512 bytes
	p := newRawProxy(t, step{raw: "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + long})
	_, rt := plainRT(t, p.url(), plainBase())
	if _, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/long"); body != long {
		t.Fatalf("the body came as %d bytes, want the 65536 sent", len(body))
	}
	if _, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/next"); body != "ok" {
		t.Fatalf("the next request: body %q, want \"ok\"", body)
	}
	if conns, _ := p.counts(); conns != 1 {
		t.Fatalf("two requests took %d connections, want 1", conns)
	}
}

// TestPlainBodilessAnswers: answers that have no body whatever their
// header says (to HEAD, 204, 304, 1xx) are not read past, so the next
// answer on the connection is read right.
func TestPlainBodilessAnswers(t *testing.T) {
	p := newRawProxy(t,
		step{raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"}, // HEAD
		step{raw: "HTTP/1.1 204 No Content\r\n\r\n"},
		step{raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"},
		step{raw: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + ok200},
	)
	_, rt := plainRT(t, p.url(), plainBase())
	tests := []struct {
		method string
		status int
		body   string
	}{
		{http.MethodHead, 200, ""},
		{http.MethodGet, 204, ""},
		{http.MethodGet, 304, ""},
		{http.MethodGet, 200, "ok"}, // after two 1xx
		{http.MethodGet, 200, "ok"},
	}
	for i, tt := range tests {
		resp, body := roundTrip(t, rt, tt.method, "http://origin.test/")
		if resp.StatusCode != tt.status || body != tt.body {
			t.Fatalf("answer %d: %d %q, want %d %q", i, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	if conns, _ := p.counts(); conns != 1 {
		t.Errorf("the answers took %d connections, want 1", conns)
	}
}

func TestPlainChunkedAnswerWithTrailer(t *testing.T) {
	p := newRawProxy(t, step{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"3\r\nhel\r\n2\r\nlo\r\n0\r\nX-Sum: 5\r\n\r\n"})
	_, rt := plainRT(t, p.url(), plainBase())
	resp, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/")
	if body != "hello" || resp.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("got %q with trailer X-Sum %q, want \"hello\" and \"5\"", body, resp.Trailer.Get("X-Sum"))
	}
	roundTrip(t, rt, http.MethodGet, "http://origin.test/")
	if conns, _ := p.counts(); conns != 1 {
		t.Errorf("two answers took %d connections, want 1", conns)
	}
}

// TestPlainConnectionNotReused: a connection is handed back only when its
// answer was read to the end and nobody said close; else the next request
// takes a new one, and succeeds at its first attempt.
func TestPlainConnectionNotReused(t *testing.T) {
	tests := []struct {
		name  string
		first step
		read  bool // read the first body to its end, else what came of it (2 bytes)
	}{
		// 8 bytes of the body never come: a reused connection would read
		// the next answer as the rest of this body, or (with nothing
		// buffered) carry the next request as if all were well.
		{"body closed before its end", step{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"}, false},
		{"Connection: close", step{raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}, true},
		{"body delimited by the close", step{raw: "HTTP/1.1 200 OK\r\n\r\nuntil close", close: true}, true},
		{"bytes after the answer", step{raw: ok200 + "HTTP/1.1 500 Unasked\r\nContent-Length: 0\r\n\r\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newRawProxy(t, tt.first)
			c, rt := plainRT(t, p.url(), plainBase())
			req, _ := http.NewRequest(http.MethodGet, "http://origin.test/1", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.read {
				_, _ = io.ReadAll(resp.Body)
			} else if _, err := io.ReadFull(resp.Body, make([]byte, 2)); err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			resp, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/2")
			if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(HeaderAttempts) != "1" {
				t.Fatalf("second request: %d %q after %s attempts, want 200 \"ok\" after 1",
					resp.StatusCode, body, resp.Header.Get(HeaderAttempts))
			}
			if conns, _ := p.counts(); conns != 2 {
				t.Errorf("two requests took %d connections, want 2", conns)
			}
			if f := c.Recorder().Summary().Failures; len(f) > 0 {
				t.Errorf("failures recorded: %v, want none", f)
			}
		})
	}
}

// TestPlainStaleConnectionResent: a proxy that closes a connection after
// its answer without saying so (tinyproxy does) leaves a dead connection in
// the pool; the next request finds it dead before any answer and is sent
// again at once on a new connection, within its first attempt, with no
// failure counted against the proxy.
func TestPlainStaleConnectionResent(t *testing.T) {
	p := newRawProxy(t, step{raw: ok200, close: true})
	c, rt := plainRT(t, p.url(), plainBase())
	roundTrip(t, rt, http.MethodGet, "http://origin.test/1")
	resp, body := roundTrip(t, rt, http.MethodGet, "http://origin.test/2")
	if body != "ok" || resp.Header.Get(HeaderAttempts) != "1" {
		t.Fatalf("second request: %q after %s attempts, want \"ok\" after 1", body, resp.Header.Get(HeaderAttempts))
	}
	if f := c.Recorder().Summary().Failures; len(f) > 0 {
		t.Errorf("failures recorded: %v, want none", f)
	}
	if conns, _ := p.counts(); conns != 2 {
		t.Errorf("the requests took %d connections, want 2", conns)
	}
}

// TestPlainCancel: the request's context ends the exchange wherever it is
// blocked, waiting for the answer or for the rest of its body. Without the
// context's hook the client would wait until the proxy closes, at the end
// of the test, and get EOF.
func TestPlainCancel(t *testing.T) {
	t.Run("waiting for the answer", func(t *testing.T) {
		p := newRawProxy(t, step{hang: true})
		_, rt := plainRT(t, p.url(), plainBase())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://origin.test/", nil)
		errc := roundTripInBackground(rt, req)
		<-p.got // the proxy has the request: the client waits for the answer
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want one wrapping context.Canceled", err)
		}
	})
	t.Run("reading the body", func(t *testing.T) {
		p := newRawProxy(t, step{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"})
		_, rt := plainRT(t, p.url(), plainBase())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://origin.test/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		errc := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(resp.Body) // 2 of 10 bytes come, then nothing
			errc <- err
		}()
		cancel()
		if err := <-errc; err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("reading the body: err = %v, want the cancellation's", err)
		}
	})
}

func TestPlainAnswerHeaderBounded(t *testing.T) {
	big := step{raw: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\nContent-Length: 2\r\n\r\nok"}
	p := newRawProxy(t, big, big, big) // one per attempt
	base := plainBase()
	base.MaxResponseHeaderBytes = 4 << 10
	_, rt := plainRT(t, p.url(), base)
	req, _ := http.NewRequest(http.MethodGet, "http://origin.test/", nil)
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("an 8 KiB header was read with MaxResponseHeaderBytes 4 KiB")
	}
}

// TestPlainProxyAuthorization: a proxy URL's credentials go out as
// Proxy-Authorization beside the request's own header fields, also for a
// request made without a Header map.
func TestPlainProxyAuthorization(t *testing.T) {
	p := newRawProxy(t)
	u, _ := url.Parse(p.url())
	u.User = url.UserPassword("scraper", "s3cret")
	_, rt := plainRT(t, u.String(), plainBase())
	req, _ := http.NewRequest(http.MethodGet, "http://origin.test/", nil)
	req.Header.Set("X-Scraper", "kept")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	target, _ := url.Parse("http://origin.test/bare")
	resp, err = rt.RoundTrip(&http.Request{Method: http.MethodGet, URL: target}) // Header nil
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	want := "Basic " + "c2NyYXBlcjpzM2NyZXQ=" // base64("scraper:s3cret")
	for i := range 2 {
		if got := p.request(i).Header.Get("Proxy-Authorization"); got != want {
			t.Errorf("request %d: Proxy-Authorization = %q, want %q", i, got, want)
		}
	}
	if got := p.request(0).Header.Get("X-Scraper"); got != "kept" {
		t.Errorf("the request's own field X-Scraper = %q, want \"kept\"", got)
	}
	if req.Header.Get("Proxy-Authorization") != "" {
		t.Error("the caller's request was given the credentials")
	}
}

// TestPlainInformationalAnswers: up to five 1xx answers before the final
// one are skipped, as net/http's Transport skips them; a sixth, or a 101
// that the pool never asked for, fails the attempt.
func TestPlainInformationalAnswers(t *testing.T) {
	early := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	once, _ := WithRetryPolicy(context.Background(), policy.RetryPolicy{MaxAttempts: 1})
	send := func(t *testing.T, raw string) (*http.Response, string, error) {
		t.Helper()
		p := newRawProxy(t, step{raw: raw})
		_, rt := plainRT(t, p.url(), plainBase())
		req, _ := http.NewRequestWithContext(once, http.MethodGet, "http://origin.test/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp, "", nil // a 101's body is the connection: reading it would wait for the proxy
		}
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	t.Run("five skipped", func(t *testing.T) {
		resp, body, err := send(t, strings.Repeat(early, 5)+ok200)
		if err != nil || resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("after five 103s: %v, %v %q; want 200 \"ok\"", err, resp, body)
		}
	})
	t.Run("a sixth fails", func(t *testing.T) {
		if resp, _, err := send(t, strings.Repeat(early, 6)+ok200); err == nil {
			t.Fatalf("after six 103s: %d, want an error", resp.StatusCode)
		}
	})
	t.Run("101 unasked fails", func(t *testing.T) {
		if resp, _, err := send(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"); err == nil {
			t.Fatalf("a 101 to a plain request: %d, want an error", resp.StatusCode)
		}
	})
}

// TestPlainLeavesTheRestToNetHTTP: what the pool does not do goes through
// http.Transport as before: compression (it asks for gzip), checking
// header names and methods (it refuses to send a bad one), https targets
// (a CONNECT tunnel), bodies (it can rewind one for a resend and does
// Expect: 100-continue), protocol upgrades (a 101 whose body is the
// connection) and the caller's httptrace hooks.
func TestPlainLeavesTheRestToNetHTTP(t *testing.T) {
	once, _ := WithRetryPolicy(context.Background(), policy.RetryPolicy{MaxAttempts: 1})
	t.Run("https target", func(t *testing.T) {
		p := newRawProxy(t, step{raw: "HTTP/1.1 200 Connection established\r\n\r\n"})
		_, rt := plainRT(t, p.url(), plainBase())
		req, _ := http.NewRequestWithContext(once, http.MethodGet, "https://origin.test/", nil)
		if resp, err := rt.RoundTrip(req); err == nil {
			_ = resp.Body.Close() // the raw proxy speaks no TLS: the handshake fails
		}
		if got := p.request(0); got.Method != http.MethodConnect || got.Host != "origin.test:443" {
			t.Fatalf("the proxy got %s %s, want CONNECT origin.test:443", got.Method, got.Host)
		}
	})
	t.Run("body", func(t *testing.T) {
		p := newRawProxy(t)
		_, rt := plainRT(t, p.url(), plainBase())
		roundTrip(t, rt, http.MethodGet, "http://origin.test/first") // the pool's connection, idle after
		// PUT, not POST: a POST is sent at most once, which alone would
		// take it to net/http; a PUT may be retried, so only its body can.
		req, _ := http.NewRequest(http.MethodPut, "http://origin.test/form", strings.NewReader("a=1"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if conns, _ := p.counts(); conns != 2 {
			t.Fatalf("a PUT after a GET took %d connections in all, want 2: the PUT on net/http's own", conns)
		}
		if got := p.request(1); got.Method != http.MethodPut || got.ContentLength != 3 {
			t.Fatalf("the proxy got %s with Content-Length %d, want PUT with 3", got.Method, got.ContentLength)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		p := newRawProxy(t, step{raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n"})
		_, rt := plainRT(t, p.url(), plainBase())
		req, _ := http.NewRequestWithContext(once, http.MethodGet, "http://origin.test/socket", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "x-test")
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("an upgrade answered 101: %v", err)
		}
		defer resp.Body.Close()
		if _, ok := resp.Body.(io.Writer); resp.StatusCode != http.StatusSwitchingProtocols || !ok {
			t.Fatalf("answer %d with a body of %T, want 101 with the connection as its body", resp.StatusCode, resp.Body)
		}
	})
	t.Run("httptrace", func(t *testing.T) {
		p := newRawProxy(t)
		_, rt := plainRT(t, p.url(), plainBase())
		var gotConn bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(httptrace.GotConnInfo) { gotConn = true },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://origin.test/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if !gotConn {
			t.Fatal("the caller's GotConn hook was not called")
		}
	})
	t.Run("bad method", func(t *testing.T) {
		p := newRawProxy(t)
		_, rt := plainRT(t, p.url(), plainBase())
		// A policy that retries every method: the request is not sent
		// at most once, which would take it to net/http on that ground.
		anyMethod, _ := WithRetryPolicy(context.Background(), policy.RetryPolicy{MaxAttempts: 2, RetryNonIdempotent: true})
		req, _ := http.NewRequestWithContext(anyMethod, http.MethodGet, "http://origin.test/", nil)
		req.Method = "GET /other HTTP/1.1\r\nX:" // a request line of its own smuggled in
		refusedUnwritten(t, rt, p, req, "a bad method")
	})
	t.Run("compression", func(t *testing.T) {
		p := newRawProxy(t)
		base := plainBase()
		base.DisableCompression = false
		_, rt := plainRT(t, p.url(), base)
		roundTrip(t, rt, http.MethodGet, "http://origin.test/")
		if got := p.request(0).Header.Get("Accept-Encoding"); got != "gzip" {
			t.Fatalf("Accept-Encoding = %q, want net/http's \"gzip\"", got)
		}
	})
	t.Run("Request.Cancel", func(t *testing.T) {
		p := newRawProxy(t, step{hang: true})
		_, rt := plainRT(t, p.url(), plainBase())
		req, _ := http.NewRequest(http.MethodGet, "http://origin.test/", nil)
		cancel := make(chan struct{})
		//lint:ignore SA1019 what is tested
		req.Cancel = cancel
		policyOnce, _ := WithRetryPolicy(req.Context(), policy.RetryPolicy{MaxAttempts: 1})
		req = req.WithContext(policyOnce)
		errc := roundTripInBackground(rt, req)
		<-p.got
		close(cancel) // without net/http, nothing would heed it until the proxy closes
		if err := <-errc; err == nil {
			t.Fatal("a cancelled request succeeded")
		}
		if _, reqs := p.counts(); reqs != 1 {
			t.Fatalf("the proxy got %d requests, want 1", reqs)
		}
	})
	t.Run("bad header name", func(t *testing.T) {
		p := newRawProxy(t)
		_, rt := plainRT(t, p.url(), plainBase())
		req, _ := http.NewRequest(http.MethodGet, "http://origin.test/", nil)
		req.Header["Bad Name"] = []string{"v"}
		refusedUnwritten(t, rt, p, req, "a bad header name")
	})
}

// TestPlainIdleTimeout: a connection idle for IdleConnTimeout is closed
// and leaves the pool.
func TestPlainIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u, _ := url.Parse("http://proxy.test:3128")
		base := plainBase()
		base.IdleConnTimeout = time.Minute
		p := newPlainPool(base, u)
		client, server := net.Pipe()
		defer server.Close()
		p.dial = func(context.Context, string, string) (net.Conn, error) { return client, nil }
		pc, err := p.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pc.release(true, func() bool { return true })
		time.Sleep(time.Minute - time.Second)
		synctest.Wait()
		if n := idleCount(p); n != 1 {
			t.Fatalf("%d idle connections before the timeout, want 1", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := idleCount(p); n != 0 {
			t.Fatalf("%d idle connections after the timeout, want 0", n)
		}
		if _, err := server.Write([]byte("x")); err == nil {
			t.Fatal("the expired connection is still open")
		}
	})
}

// TestPlainIdleLimits: no more than MaxIdleConnsPerHost connections wait
// idle (the one over is closed); with IdleConnTimeout 0 an idle connection
// waits for as long as it takes, and CloseIdleConnections closes it.
func TestPlainIdleLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u, _ := url.Parse("http://proxy.test:3128")
		base := plainBase()
		base.MaxIdleConnsPerHost = 1
		base.IdleConnTimeout = 0
		p := newPlainPool(base, u)
		var servers []net.Conn
		p.dial = func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			servers = append(servers, server)
			return client, nil
		}
		defer func() {
			for _, s := range servers {
				_ = s.Close()
			}
		}()
		first, err := p.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		second, err := p.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		first.release(true, func() bool { return true })
		second.release(true, func() bool { return true })
		if n := idleCount(p); n != 1 {
			t.Fatalf("%d idle connections with MaxIdleConnsPerHost 1, want 1", n)
		}
		if _, err := servers[1].Write([]byte("x")); err == nil {
			t.Fatal("the connection over the idle limit is still open")
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if n := idleCount(p); n != 1 {
			t.Fatalf("%d idle connections a day later with IdleConnTimeout 0, want 1", n)
		}
		p.closeIdle()
		if n := idleCount(p); n != 0 {
			t.Fatalf("%d idle connections after closeIdle, want 0", n)
		}
		if _, err := servers[0].Write([]byte("x")); err == nil {
			t.Fatal("closeIdle left the idle connection open")
		}
	})
}

func idleCount(p *plainPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// refusedUnwritten sends req through rt and fails t unless it is refused
// with an error before anything reaches the proxy p.
func refusedUnwritten(t *testing.T, rt http.RoundTripper, p *rawProxy, req *http.Request, what string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("a request with %s was sent", what)
	}
	if conns, _ := p.counts(); conns != 0 {
		t.Fatalf("the proxy got %d connections for a request with %s, want 0: nothing should be written", conns, what)
	}
}

// roundTripInBackground sends req through rt on a goroutine of its own
// and delivers the error (the answer's body, if any, is closed).
func roundTripInBackground(rt http.RoundTripper, req *http.Request) <-chan error {
	errc := make(chan error, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	return errc
}
