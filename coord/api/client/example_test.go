package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// A thin client trips a breaker through the API of a node (here one served
// in-process by package api) and reads the pool back.
func ExampleClient() {
	c, err := coord.New(coord.Config{Pool: coord.Entries("http://user:secret@10.0.0.1:3128", "http://10.0.0.2:3128")})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h, err := api.NewHandler(api.Config{Coordinator: c, Token: "s3cret"})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close() // before srv.Close, which waits for event streams

	ctx := context.Background()
	cl := client.New(srv.URL, "s3cret", srv.Client())
	b, err := cl.Trip(ctx, "http://10.0.0.1:3128", 5*time.Minute, "maintenance")
	if err != nil {
		panic(err)
	}
	fmt.Println(b.Upstream, b.Phase, b.Gen, b.Reason, b.Eligible)

	pool, _ := cl.Pool(ctx)
	for _, u := range pool {
		fmt.Println(u.URL, u.Phase)
	}

	_, err = client.New(srv.URL, "", nil).Reset(ctx, "http://10.0.0.1:3128")
	fmt.Println(err)
	// Output:
	// http://10.0.0.1:3128 open 1 maintenance false
	// http://user:xxxxx@10.0.0.1:3128 open
	// http://10.0.0.2:3128 closed
	// api: this request needs Authorization: Bearer <token> (the agent's --api-token) (unauthorized, HTTP 401)
}
