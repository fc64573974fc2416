package forward_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// A client uses the forward proxy like any HTTP proxy; the coordinator
// picks the upstream, and answers 503 when none is eligible.
func Example() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()
	upstream, err := testproxy.Listen() // stands for a real upstream proxy
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
	p, err := forward.New(forward.Config{Coordinator: c})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the agent uses forward.DefaultAddr
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	proxyURL, _ := url.Parse("http://" + ln.Addr().String())
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	show := func() {
		resp, err := client.Get(origin.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d attempts=%s %s", resp.StatusCode, resp.Header.Get(coord.HeaderAttempts), body)
	}
	show()
	fmt.Println()
	c.Table().Trip(c.Upstreams()[0].Key(), time.Minute, "example")
	show()
	// Output:
	// 200 attempts=1 hello
	// 503 attempts=0 retrycoord: no eligible upstream proxy: the pool is empty or every breaker is open
}
