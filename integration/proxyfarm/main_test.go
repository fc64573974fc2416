package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestFarm(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "pool.txt")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{host: "127.0.0.1", proxies: 3, admin: "127.0.0.1:0", origin: "127.0.0.1:0", poolFile: pool},
			slog.New(slog.DiscardHandler), ready)
	}()
	admin := "http://" + <-ready
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	var status []proxyStatus
	get(t, admin+"/proxies", &status)
	if len(status) != 3 || status[1].Fault != "healthy" {
		t.Fatalf("GET /proxies = %+v", status)
	}
	b, _ := os.ReadFile(pool)
	if strings.Count(string(b), "http://127.0.0.1:") != 3 {
		t.Fatalf("pool file:\n%s", b)
	}

	put := func(path, body string) int {
		req, _ := http.NewRequest(http.MethodPut, admin+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("/proxies/1/fault", "status 502"); code != 200 {
		t.Fatalf("PUT fault: %d", code)
	}
	if code := put("/proxies/1/fault", "explode"); code != 400 {
		t.Fatalf("PUT bad fault: %d, want 400", code)
	}
	if code := put("/proxies/9/fault", "healthy"); code != 404 {
		t.Fatalf("PUT unknown proxy: %d, want 404", code)
	}

	// A request through proxy 1 gets its fault; through proxy 0, the origin.
	// The origin's address is not known here, so target the admin API:
	// a healthy proxy forwards to it, a broken one answers 502 itself.
	through := func(i int) int {
		pu, _ := url.Parse("http://" + status[i].Addr)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(admin + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := through(0); got != 200 {
		t.Fatalf("through healthy proxy: %d", got)
	}
	if got := through(1); got != 502 {
		t.Fatalf("through broken proxy: %d, want 502", got)
	}
	get(t, admin+"/proxies", &status)
	if status[1].Fault != "status 502" || status[1].Requests != 1 {
		t.Fatalf("after fault: %+v", status[1])
	}
	resp, err := http.Post(admin+"/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, admin+"/proxies", &status)
	if status[1].Fault != "healthy" || status[1].Requests != 0 {
		t.Fatalf("after reset: %+v", status[1])
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestOrigin(t *testing.T) {
	for path, want := range map[string]int{"/": 200, "/status/503": 503, "/status/abc": 400} {
		rec := httptest.NewRecorder()
		origin(rec, httptest.NewRequest(http.MethodGet, "http://origin"+path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func get(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
