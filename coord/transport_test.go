package coord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// failingBody fails on its first read, as a client that hangs up mid-upload.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("client went away") }
func (failingBody) Close() error             { return nil }

func TestUnreadableRequestBodyIsFatal(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{})
	req, _ := http.NewRequest(http.MethodPut, origin.Server().URL+"/upload", io.NopCloser(failingBody{}))
	resp, err := cl.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request whose body fails succeeded")
	}
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("err = %v, want one wrapping ErrFatal (the client's fault, not an upstream's)", err)
	}
	if n := farm.Requests(); n != 0 {
		t.Fatalf("the proxies saw %d requests, want 0", n)
	}
}

// TestTransportConnectAnswerWithFraming: through an http proxy to an https
// target, net/http sends the CONNECT itself; a 200 that carries
// Transfer-Encoding: chunked or a Content-Length is an established tunnel
// (RFC 9110 §9.3.6) and the request succeeds at the first attempt.
func TestTransportConnectAnswerWithFraming(t *testing.T) {
	for _, line := range []string{"Transfer-Encoding: chunked", "Content-Length: 12"} {
		t.Run(line, func(t *testing.T) {
			farm := testproxy.Start(t, 1)
			farm.Proxies[0].SetConnectHeader(line)
			origin := testproxy.NewTLSOrigin(t)
			c, err := New(Config{Pool: Entries(farm.URLs()...), Document: policy.Document{Retry: fastRetry()}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			base := origin.Server().Client().Transport.(*http.Transport).Clone()
			rt := c.Transport(base)
			t.Cleanup(rt.(interface{ CloseIdleConnections() }).CloseIdleConnections)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, body, err := get(t, &http.Client{Transport: rt}, ctx, origin.URL+"/secure")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(HeaderAttempts) != "1" {
				t.Fatalf("got %d %q after %s attempts, want 200 \"ok\" after 1", resp.StatusCode, body, resp.Header.Get(HeaderAttempts))
			}
			if got := farm.Proxies[0].Connects(); got != 1 {
				t.Errorf("the proxy saw %d CONNECTs, want 1", got)
			}
		})
	}
}
