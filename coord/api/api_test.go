package api

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRoutes sends every route good input, bad input and missing or wrong
// auth, and checks the status and a piece of the body.
func TestRoutes(t *testing.T) {
	f := newFixture(t, Config{Version: "v9.9.9"})
	unknown := url.PathEscape("http://10.9.9.9:3128")
	var others []string
	for _, k := range f.keys {
		if k != f.cred {
			others = append(others, k)
		}
	}
	k0 := url.PathEscape(others[0]) // never the upstream with credentials
	big := `{"url":"` + strings.Repeat("a", MaxBody) + `"}`
	const (
		none = ""
		good = testToken
		bad  = "wrong"
	)
	tests := []struct {
		name         string
		method, path string
		body, token  string
		want         int
		contains     string
	}{
		{"health", "GET", "/v1/health", "", none, 200, `"version":"v9.9.9"`},
		{"health wrong method", "POST", "/v1/health", "", good, 405, `"method_not_allowed"`},
		{"ready", "GET", "/v1/ready", "", none, 200, `"ready":true`},
		{"members default", "GET", "/v1/members", "", none, 200, `"name":"local"`},
		{"breakers", "GET", "/v1/breakers", "", none, 200, `"phase":"closed"`},
		{"breakers filter", "GET", "/v1/breakers?state=open", "", none, 200, `[]`},
		{"breakers bad filter", "GET", "/v1/breakers?state=ajar", "", none, 400, `"bad_request"`},
		{"breaker one", "GET", "/v1/breakers/" + k0, "", none, 200, `"in_pool":true`},
		{"breaker unknown", "GET", "/v1/breakers/" + unknown, "", none, 404, `"not_found"`},
		{"trip no auth", "POST", "/v1/breakers/" + k0 + "/trip", `{}`, none, 401, `Bearer`},
		{"trip wrong token", "POST", "/v1/breakers/" + k0 + "/trip", `{}`, bad, 401, `"unauthorized"`},
		{"trip bad for", "POST", "/v1/breakers/" + k0 + "/trip", `{"for":"10ms"}`, good, 400, `1s to 24h0m0s`},
		{"trip unparsable for", "POST", "/v1/breakers/" + k0 + "/trip", `{"for":"soon"}`, good, 400, `"bad_request"`},
		{"trip unknown field", "POST", "/v1/breakers/" + k0 + "/trip", `{"for":"5m","colour":"red"}`, good, 400, `unknown field`},
		{"trip bad JSON", "POST", "/v1/breakers/" + k0 + "/trip", `{"for":`, good, 400, `bad JSON`},
		{"trip unknown upstream", "POST", "/v1/breakers/" + unknown + "/trip", `{}`, good, 404, `"not_found"`},
		{"trip", "POST", "/v1/breakers/" + k0 + "/trip", `{"for":"5m","reason":"maintenance"}`, good, 200, `"phase":"open"`},
		{"breakers open", "GET", "/v1/breakers?state=open", "", none, 200, `"reason":"maintenance"`},
		{"reset no auth", "POST", "/v1/breakers/" + k0 + "/reset", "", none, 401, `"unauthorized"`},
		{"reset", "POST", "/v1/breakers/" + k0 + "/reset", "", good, 200, `"phase":"closed"`},
		{"reset unknown", "POST", "/v1/breakers/" + unknown + "/reset", "", good, 404, `"not_found"`},
		{"policy", "GET", "/v1/policy", "", none, 200, `"version":1`},
		{"policy effective", "GET", "/v1/policy?effective=true", "", none, 200, `"max_attempts":3`},
		{"trip empty body", "POST", "/v1/breakers/" + k0 + "/trip", ``, good, 200, `"reason":"tripped by operator"`},
		{"patch no auth", "PATCH", "/v1/policy", `{"retry":{"max_attempts":5}}`, none, 401, `"unauthorized"`},
		{"patch out of bounds", "PATCH", "/v1/policy", `{"retry":{"max_attempts":50}}`, good, 400, `max_attempts`},
		{"patch unknown key", "PATCH", "/v1/policy", `{"retry":{"colour":1}}`, good, 400, `colour`},
		{"patch not an object", "PATCH", "/v1/policy", `[1]`, good, 400, `"bad_request"`},
		{"patch too large", "PATCH", "/v1/policy", big, good, 413, `"too_large"`},
		{"patch empty", "PATCH", "/v1/policy", ``, good, 400, `required`},
		{"patch", "PATCH", "/v1/policy", `{"retry":{"max_attempts":5}}`, good, 200, `"max_attempts":5`},
		{"policy patched", "GET", "/v1/policy", "", none, 200, `"max_attempts":5`},
		{"pool", "GET", "/v1/pool", "", none, 200, `"region":"eu"`},
		{"pool redacted", "GET", "/v1/pool", "", none, 200, `user:xxxxx@`},
		{"pool add no auth", "POST", "/v1/pool", `{"url":"http://127.0.0.1:1"}`, none, 401, `"unauthorized"`},
		{"pool add bad url", "POST", "/v1/pool", `{"url":"ftp://u:hunter2@h:1"}`, good, 400, `not supported`},
		{"pool add no url", "POST", "/v1/pool", `{}`, good, 400, `url is required`},
		{"pool add unknown field", "POST", "/v1/pool", `{"url":"http://127.0.0.1:1","x":1}`, good, 400, `unknown field`},
		{"pool add too large", "POST", "/v1/pool", big, good, 413, `"too_large"`},
		{"pool add trailing", "POST", "/v1/pool", `{"url":"http://127.0.0.1:1"} {}`, good, 400, `after the object`},
		{"pool add", "POST", "/v1/pool", `{"url":"http://u:hunter2@127.0.0.1:1","meta":{"region":"ap"}}`, good, 201, `"upstream":"http://127.0.0.1:1"`},
		{"pool rm no auth", "DELETE", "/v1/pool/" + url.PathEscape("http://127.0.0.1:1"), "", none, 401, `"unauthorized"`},
		{"pool rm", "DELETE", "/v1/pool/" + url.PathEscape("http://127.0.0.1:1"), "", good, 204, ``},
		{"pool rm again", "DELETE", "/v1/pool/" + url.PathEscape("http://127.0.0.1:1"), "", good, 404, `not in the pool`},
		{"pool wrong method", "PUT", "/v1/pool", `{}`, good, 405, `allowed: GET, POST`},
		{"select no auth", "POST", "/v1/select", `{}`, none, 401, `"unauthorized"`},
		{"select", "POST", "/v1/select", `{"region":"eu"}`, good, 200, `"proxy_url":"http://`},
		{"select excluding", "POST", "/v1/select", `{"exclude":["` + strings.Join(others, `","`) + `"]}`, good, 200, secretPW},
		{"select everything excluded", "POST", "/v1/select", `{"exclude":["` + strings.Join(f.keys, `","`) + `"]}`, good, 503, `"no_upstream"`},
		{"select unknown field", "POST", "/v1/select", `{"regoin":"eu"}`, good, 400, `unknown field`},
		{"report no auth", "POST", "/v1/report", `{"upstream":"x","outcome":"success"}`, none, 401, `"unauthorized"`},
		{"report", "POST", "/v1/report", `{"upstream":"` + others[1] + `","outcome":"failure","status":502,"latency":"120ms"}`, good, 200, `"phase":"closed"`},
		{"report bad outcome", "POST", "/v1/report", `{"upstream":"` + others[1] + `","outcome":"meh"}`, good, 400, `want success, failure or ban`},
		{"report bad latency", "POST", "/v1/report", `{"upstream":"` + others[1] + `","outcome":"ban","latency":"-1s"}`, good, 400, `latency`},
		{"report bad status", "POST", "/v1/report", `{"upstream":"` + others[1] + `","outcome":"ban","status":1000}`, good, 400, `status`},
		{"report unknown upstream", "POST", "/v1/report", `{"upstream":"http://10.9.9.9:1","outcome":"success"}`, good, 404, `"not_found"`},
		{"summary", "GET", "/v1/metrics/summary", "", none, 200, `"attempts":1`},
		{"timeseries", "GET", "/v1/metrics/timeseries?hours=2", "", none, 200, `"failures":{"status":1}`},
		{"timeseries hours 0", "GET", "/v1/metrics/timeseries?hours=0", "", none, 400, `1 to 168`},
		{"timeseries hours 169", "GET", "/v1/metrics/timeseries?hours=169", "", none, 400, `1 to 168`},
		{"timeseries hours junk", "GET", "/v1/metrics/timeseries?hours=x", "", none, 400, `"bad_request"`},
		{"proxies", "GET", "/v1/metrics/proxies?hours=168", "", none, 200, `"failures":1`},
		{"proxies bad hours", "GET", "/v1/metrics/proxies?hours=-1", "", none, 400, `"bad_request"`},
		{"events", "GET", "/v1/metrics/events?hours=1", "", none, 200, `"source":"manual"`},
		{"events bad hours", "GET", "/v1/metrics/events?hours=1000", "", none, 400, `"bad_request"`},
		{"unknown route", "GET", "/v2/nothing", "", none, 404, `"not_found"`},
		{"metrics", "GET", "/metrics", "", none, 200, `retrycoord_pool_upstreams 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, body, hdr := f.call(t, tt.method, tt.path, tt.body, tt.token)
			if got != tt.want {
				t.Fatalf("%s %s = %d, want %d; body %s", tt.method, tt.path, got, tt.want, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s body = %s, want it to contain %q", tt.method, tt.path, body, tt.contains)
			}
			if strings.Contains(body, secretPW) && tt.path != "/v1/select" {
				t.Errorf("%s %s leaks the password: %s", tt.method, tt.path, body)
			}
			if strings.Contains(body, "hunter2") {
				t.Errorf("%s %s leaks a password: %s", tt.method, tt.path, body)
			}
			if tt.want == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if got >= 400 && hdr.Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type = %q", hdr.Get("Content-Type"))
			}
		})
	}
}

// TestWritesWithoutToken: with no token and not Dev, writes are refused
// with a message naming the flag; reads still work. Dev opens them.
func TestWritesWithoutToken(t *testing.T) {
	f := newFixture(t, Config{})
	f.h.cfg.Token = "" // as if configured without one
	k := url.PathEscape(f.keys[0])
	got, body, _ := f.call(t, "POST", "/v1/breakers/"+k+"/trip", "{}", testToken)
	if got != http.StatusForbidden || !strings.Contains(body, "--api-token") {
		t.Errorf("trip without a configured token = %d %s, want 403 naming --api-token", got, body)
	}
	if got, _, _ := f.call(t, "GET", "/v1/breakers", "", ""); got != 200 {
		t.Errorf("read = %d, want 200", got)
	}

	dev := newFixture(t, Config{Dev: true})
	if got, body, _ := dev.call(t, "POST", "/v1/breakers/"+url.PathEscape(dev.keys[0])+"/trip", "", ""); got != 200 {
		t.Errorf("dev trip without token = %d %s, want 200", got, body)
	}
}

// TestPathEscapedKey checks that ServeMux hands back the unescaped key of
// one escaped segment, including an IPv6 key, and that a proxy URL with
// credentials is read as its key.
func TestPathEscapedKey(t *testing.T) {
	f := newFixture(t, Config{})
	v6 := "socks5://[::1]:1080"
	f.c.Table().Trip(v6, 0, "test")
	for _, key := range []string{v6, f.keys[0], "http://user:" + secretPW + "@" + strings.TrimPrefix(f.cred, "http://")} {
		got, body, _ := f.call(t, "GET", "/v1/breakers/"+url.PathEscape(key), "", "")
		if got != 200 {
			t.Fatalf("GET %q = %d %s", key, got, body)
		}
		if strings.Contains(body, secretPW) {
			t.Errorf("answer leaks the password: %s", body)
		}
	}
}

func TestReadyAndMembers(t *testing.T) {
	var ready, degraded atomic.Bool
	readiness := func() Readiness {
		if degraded.Load() {
			return Readiness{Degraded: true, Reason: "not ready: no seed answered"}
		}
		return Readiness{Ready: ready.Load()}
	}
	f := newFixture(t, Config{Ready: readiness, Members: MembersFunc(func() []Member {
		return []Member{{Name: "n1", Addr: "127.0.0.1:7946", State: "alive"}, {Name: "n2", State: "suspect", Suspect: true}}
	})})
	if got, body, _ := f.call(t, "GET", "/v1/ready", "", ""); got != 503 || !strings.Contains(body, "first sync") {
		t.Errorf("ready before sync = %d %s", got, body)
	}
	// A degraded node is not ready: the reason is both the readiness's and
	// the API error's, so that any client shows it.
	degraded.Store(true)
	if got, body, _ := f.call(t, "GET", "/v1/ready", "", ""); got != 503 ||
		!strings.Contains(body, `"ready":false,"degraded":true,"reason":"not ready: no seed answered"`) ||
		!strings.Contains(body, `"error":{"code":"not_ready","message":"not ready: no seed answered"}`) {
		t.Errorf("ready when degraded = %d %s", got, body)
	}
	degraded.Store(false)
	ready.Store(true)
	if got, _, _ := f.call(t, "GET", "/v1/ready", "", ""); got != 200 {
		t.Errorf("ready = %d", got)
	}
	if _, body, _ := f.call(t, "GET", "/v1/members", "", ""); !strings.Contains(body, `"suspect":true`) {
		t.Errorf("members = %s", body)
	}
}
