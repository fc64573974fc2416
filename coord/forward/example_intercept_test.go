package forward_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// With the fleet's own CA the proxy intercepts CONNECT, so that an HTTPS
// origin's 503 is seen and retried; the client trusts the CA.
func Example_interception() {
	var calls atomic.Int32
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello over TLS")
	}))
	defer origin.Close()
	upstream, err := testproxy.Listen()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer upstream.Close()
	c, err := coord.New(coord.Config{Pool: coord.Entries(upstream.URL())})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	certPEM, keyPEM, err := forward.NewCA("example", time.Hour, time.Now()) // retrycoord ca init
	if err != nil {
		fmt.Println(err)
		return
	}
	ca, err := forward.ParseCA(certPEM, keyPEM)
	if err != nil {
		fmt.Println(err)
		return
	}
	originRoots := x509.NewCertPool() // a real origin needs none: the system's roots
	originRoots.AddCert(origin.Certificate())
	p, err := forward.New(forward.Config{Coordinator: c, Intercept: forward.Interception{
		CA: ca, Roots: originRoots,
		AllowIPTargets: true, // the origin is https://127.0.0.1:port
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	trust := x509.NewCertPool()
	trust.AppendCertsFromPEM(certPEM) // the client trusts the fleet's CA
	proxyURL, _ := url.Parse("http://" + ln.Addr().String())
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: trust}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(origin.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d attempts=%s %s\n", resp.StatusCode, resp.Header.Get(coord.HeaderAttempts), body)
	fmt.Println("intercepted requests:", p.Stats().Intercept.Requests)
	// Output:
	// 200 attempts=2 hello over TLS
	// intercepted requests: 1
}
