package coord

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// TestConcurrentRequestsThroughFaults sends 10,000 concurrent requests
// through Transport to a pool where some proxies fail, and checks that every
// request ends, and that the recorder counted exactly the attempts the
// proxies saw.
func TestConcurrentRequestsThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	farm := testproxy.Start(t, 6)
	farm.Proxies[0].Set(testproxy.Status(502))
	farm.Proxies[1].Set(testproxy.Refuse())
	farm.Proxies[2].Set(testproxy.Ban(429))
	origin := testproxy.NewOrigin(t)
	rp := fastRetry()
	rp.MaxAttempts = 2
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	run(t, c)

	const total = 10_000
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		ok    int
		other = map[string]int{}
	)
	start := make(chan struct{})
	sem := make(chan struct{}, 128) // bound open sockets; requests are still all in flight together
	for range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, origin.URL, nil)
			resp, err := cl.Do(req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				discard(resp)
				ok++
			case errors.Is(err, ErrNoUpstream):
				other["no upstream"]++
			default:
				var gu *GiveUpError
				if errors.As(err, &gu) {
					other["give up"]++
				} else {
					other[err.Error()]++
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("ok %d, other %v, proxies saw %d, recorded %d", ok, other, farm.Requests(), c.Recorder().Total())
	if ok < total*9/10 {
		t.Errorf("%d of %d requests succeeded, want ≥ 90%%", ok, total)
	}
	if got, want := c.Recorder().Total(), uint64(farm.Requests()); got != want {
		t.Errorf("recorder counted %d attempts, proxies saw %d", got, want)
	}
}
