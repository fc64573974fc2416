package testproxy_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func client(t *testing.T, proxy string) *http.Client {
	t.Helper()
	u, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		Proxy:           http.ProxyURL(u),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestFaults(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	tests := []struct {
		name    string
		fault   testproxy.Fault
		status  int
		wantErr bool
	}{
		{"healthy", testproxy.Healthy(), 200, false},
		{"slow", testproxy.Slow(10 * time.Millisecond), 200, false},
		{"502", testproxy.Status(502), 502, false},
		{"503", testproxy.Status(503), 503, false},
		{"504", testproxy.Status(504), 504, false},
		{"407", testproxy.ProxyAuth(), 407, false},
		{"ban 403", testproxy.Ban(403), 403, false},
		{"ban 429", testproxy.Ban(429), 429, false},
		{"refuse", testproxy.Refuse(), 0, true},
		{"hang", testproxy.Hang(50 * time.Millisecond), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testproxy.NewProxy(t)
			p.Set(tt.fault)
			status, body, err := get(t, client(t, p.URL()), origin.URL+"/x")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if status != tt.status {
				t.Errorf("status = %d, want %d", status, tt.status)
			}
			if tt.status == 200 && body != "ok" {
				t.Errorf("body = %q, want ok", body)
			}
			if got := p.Requests(); got < 1 {
				t.Errorf("Requests = %d, want ≥ 1", got)
			}
		})
	}
}

func TestConnectTunnel(t *testing.T) {
	origin := testproxy.NewTLSOrigin(t)
	p := testproxy.NewProxy(t)
	status, body, err := get(t, client(t, p.URL()), origin.URL+"/secure")
	if err != nil || status != 200 || body != "ok" {
		t.Fatalf("got %d %q %v, want 200 ok", status, body, err)
	}
	if p.Connects() != 1 {
		t.Errorf("Connects = %d, want 1", p.Connects())
	}
	p.Set(testproxy.Status(502))
	c := client(t, p.URL())
	if _, _, err := get(t, c, origin.URL+"/secure"); err == nil {
		t.Error("CONNECT through a 502 proxy: want an error")
	}
}

func TestRequireAuth(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	p := testproxy.NewProxy(t)
	p.RequireAuth("user", "secret")
	if status, _, _ := get(t, client(t, p.URL()), origin.URL); status != 407 {
		t.Errorf("without credentials: status %d, want 407", status)
	}
	withAuth := "http://user:secret@" + p.Addr()
	if status, _, _ := get(t, client(t, withAuth), origin.URL); status != 200 {
		t.Errorf("with credentials: status %d, want 200", status)
	}
}

func TestOriginScript(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	origin.Script(testproxy.Answer{Status: 503, Header: map[string]string{"Retry-After": "1"}})
	origin.ScriptStatus(502)
	c := client(t, testproxy.NewProxy(t).URL())
	var got []int
	for range 3 {
		status, _, err := get(t, c, origin.URL)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, status)
	}
	if want := []int{503, 502, 200}; !equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if origin.Requests() != 3 {
		t.Errorf("origin Requests = %d, want 3", origin.Requests())
	}
}

func TestCloseDropsHang(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	p := testproxy.NewProxy(t)
	p.Set(testproxy.Hang(0))
	errc := make(chan error, 1)
	c := client(t, p.URL())
	go func() { _, _, err := get(t, c, origin.URL); errc <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for p.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	p.Close()
	if err := <-errc; err == nil {
		t.Error("hung request after Close: want an error")
	}
}

func TestFarm(t *testing.T) {
	f := testproxy.Start(t, 3)
	if len(f.URLs()) != 3 || f.ByURL(f.URLs()[1]) != f.Proxies[1] {
		t.Fatalf("URLs/ByURL mismatch: %v", f.URLs())
	}
	f.SetAll(testproxy.Status(503))
	if f.Proxies[2].Fault().Status != 503 {
		t.Error("SetAll did not apply")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
