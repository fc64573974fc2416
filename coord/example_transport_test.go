package coord_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// A single-node coordinator needs nothing but a pool: its Transport is an
// http.RoundTripper that picks a healthy proxy for every request, retries a
// failure on another one, and keeps a breaker per proxy. This is the first
// snippet of the README's "Embedding" section; here the pool is two local
// test proxies in front of a local origin.
func ExampleCoordinator_Transport() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()
	var proxies []string // e.g. "http://user:pass@10.0.0.1:3128"
	for range 2 {
		p, err := testproxy.Listen()
		if err != nil {
			panic(err)
		}
		defer p.Close()
		proxies = append(proxies, p.URL())
	}
	target := origin.URL + "/hello"

	c, err := coord.New(coord.Config{Pool: coord.Entries(proxies...)})
	if err != nil {
		panic(err)
	}
	go c.Run(ctx)
	defer c.Close()
	client := &http.Client{Transport: c.Transport(nil)} // retries, failover, breakers
	resp, err := client.Get(target)                     // errors: *coord.GiveUpError, coord.ErrNoUpstream
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 hello
}
