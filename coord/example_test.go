package coord_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/policy"
)

// Do retries a failing call on other upstreams: here the first two
// attempts get 502 and the third succeeds.
func ExampleCoordinator_Do() {
	c, err := coord.New(coord.Config{
		Pool: coord.Entries("http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"),
		Document: policy.Document{Retry: policy.RetryPolicy{
			MaxAttempts: 3, BaseDelay: 100 * time.Millisecond,
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	calls := 0
	res, err := c.Do(context.Background(), func(ctx context.Context, u *coord.Upstream) (*http.Response, error) {
		calls++
		status := http.StatusBadGateway
		if calls == 3 {
			status = http.StatusOK
		}
		return &http.Response{StatusCode: status, Body: http.NoBody}, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Response.Body.Close()
	fmt.Println(res.Response.StatusCode, "after", res.Attempts, "attempts")

	_, err = coord.ParseUpstream(coord.PoolEntry{URL: "ftp://user:secret@10.0.0.4"})
	fmt.Println(err, errors.Is(err, coord.ErrBadUpstream))
	// Output:
	// 200 after 3 attempts
	// coord: bad upstream URL "ftp://user:xxxxx@10.0.0.4": scheme "ftp" not supported (want http, https or socks5) true
}
