package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// fastRetry is a retry policy with the smallest waits allowed.
func fastRetry() policy.RetryPolicy {
	return policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, Backoff: policy.BackoffFixed}
}

// newCoord returns a coordinator over the given upstream URLs, closed by
// t.Cleanup.
func newCoord(t testing.TB, urls ...string) *coord.Coordinator {
	t.Helper()
	c, err := coord.New(coord.Config{
		Pool:     coord.Entries(urls...),
		Document: policy.Document{Retry: fastRetry()},
	})
	if err != nil {
		t.Fatalf("coord.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// serve starts a forward proxy for cfg on a free loopback port and returns
// it with its URL; both are stopped by t.Cleanup.
func serve(t testing.TB, cfg Config) (*Proxy, string) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, "http://" + ln.Addr().String()
}

// client returns an http.Client whose proxy is proxyURL; tlsCfg may be nil.
func client(t testing.TB, proxyURL string, tlsCfg *tls.Config, keepAlive bool) *http.Client {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		Proxy:               http.ProxyURL(u),
		TLSClientConfig:     tlsCfg,
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 4,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, cl *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

func get(t testing.TB, cl *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, cl, req)
}

// rawConnect sends "CONNECT target" to the proxy at proxyURL with the
// given extra header lines and returns the answer, its body when it is
// not a 200, and the connection (closed by t.Cleanup).
func rawConnect(t testing.TB, proxyURL, target, extra string) (*http.Response, string, net.Conn) {
	t.Helper()
	resp, conn, _ := openTunnel(t, proxyURL, target, extra, "")
	var body string
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	return resp, body, conn
}

// openTunnel sends "CONNECT target" to the proxy at proxyURL with the
// given extra header lines and, in the same write, early: bytes of the
// tunnel that follow the request. It returns the answer and the
// connection (closed by t.Cleanup) with the reader the answer was read
// from, which may hold the tunnel's first bytes. The exchange has 10s;
// the connection has no deadline after it.
func openTunnel(t testing.TB, proxyURL, target, extra, early string) (*http.Response, *net.TCPConn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", hostOf(proxyURL), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n"+extra+"\r\n"+early); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading CONNECT answer: %v", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return resp, conn.(*net.TCPConn), br
}

func hostOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Host
}
