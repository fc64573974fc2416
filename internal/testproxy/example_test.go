package testproxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

func Example() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()
	p, err := testproxy.Listen()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	u, _ := url.Parse(p.URL())
	tr := &http.Transport{Proxy: http.ProxyURL(u)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	for _, f := range []testproxy.Fault{testproxy.Healthy(), testproxy.Status(503), testproxy.Ban(429)} {
		p.Set(f)
		resp, err := client.Get(origin.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %q\n", f, resp.StatusCode, body)
	}
	fmt.Println("requests seen:", p.Requests())
	// Output:
	// healthy: 200 "hello"
	// status 503: 503 "status 503\n"
	// ban 429: 429 "ban 429\n"
	// requests seen: 3
}
