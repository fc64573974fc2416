package api

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAPIBadInput sends the API what a confused or hostile client would:
// wrong JSON types, huge bodies, unknown fields, unknown upstreams, odd path
// escapes, invalid durations, hours out of range, wrong methods and missing
// or wrong tokens. Each gets its status and JSON error code, nothing
// crashes (a panic would break the connection), and the table, the pool and
// the policy are exactly as before.
//
// The API keeps no counter of refused requests: the only figures are the
// HTTP statuses themselves.
func TestAPIBadInput(t *testing.T) {
	f := frozenFixture(t, Config{})
	noToken := frozenFixture(t, Config{})
	noToken.h.cfg.Token = "" // as if started without --api-token
	// The fixture's first upstream is tripped so that the table holds a
	// record whose change would show.
	k0 := f.keys[0]
	if f.keys[0] == f.cred {
		k0 = f.keys[1]
	}
	f.c.Table().Trip(f.keys[2], 0, "before the bad input")

	esc := url.PathEscape(k0)
	unknown := url.PathEscape("http://10.9.9.9:3128")
	huge := `{"reason":"` + strings.Repeat("a", MaxBody) + `"}`
	hugePool := `{"remove":["` + strings.Repeat("a", MaxPoolBody) + `"]}`
	const good = testToken
	report := func(extra string) string {
		return `{"upstream":"` + k0 + `","outcome":"failure"` + extra + `}`
	}
	trip := "/v1/breakers/" + esc + "/trip"
	tests := []struct {
		name         string
		fx           *fixture
		method, path string
		body, token  string
		auth         string // a whole Authorization header, instead of the token
		anon         bool   // send no credentials (otherwise token defaults to the right one)
		want         int
		code         string
	}{
		// Wrong JSON types.
		{name: "trip for a number", method: "POST", path: trip, body: `{"for":300}`, want: 400, code: CodeBadRequest},
		{name: "trip reason a list", method: "POST", path: trip, body: `{"reason":["a"]}`, want: 400, code: CodeBadRequest},
		{name: "trip body a list", method: "POST", path: trip, body: `[]`, want: 400, code: CodeBadRequest},
		{name: "trip body a string", method: "POST", path: trip, body: `"trip"`, want: 400, code: CodeBadRequest},
		{name: "trip body not JSON", method: "POST", path: trip, body: `for=5m`, want: 400, code: CodeBadRequest},
		{name: "trip two objects", method: "POST", path: trip, body: `{} {}`, want: 400, code: CodeBadRequest},
		{name: "pool url a number", method: "POST", path: "/v1/pool", body: `{"url":1}`, want: 400, code: CodeBadRequest},
		{name: "pool meta a list", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9","meta":["a"]}`, want: 400, code: CodeBadRequest},
		{name: "pool meta value a number", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9","meta":{"region":1}}`, want: 400, code: CodeBadRequest},
		{name: "pool url not a proxy", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9/path"}`, want: 400, code: CodeBadRequest},
		{name: "pool update add an object", method: "PATCH", path: "/v1/pool", body: `{"add":{"url":"http://127.0.0.1:9"}}`, want: 400, code: CodeBadRequest},
		{name: "pool update remove a string", method: "PATCH", path: "/v1/pool", body: `{"remove":"` + k0 + `"}`, want: 400, code: CodeBadRequest},
		{name: "pool update entry without url", method: "PATCH", path: "/v1/pool", body: `{"add":[{"url":"http://127.0.0.1:9"},{"meta":{"region":"eu"}}],"remove":["` + k0 + `"]}`, want: 400, code: CodeBadRequest},
		{name: "pool update bad entry last", method: "PATCH", path: "/v1/pool", body: `{"add":[{"url":"http://127.0.0.1:9"},{"url":"gopher://u:hunter2@127.0.0.1:9"}],"remove":["` + k0 + `"]}`, want: 400, code: CodeBadRequest},
		{name: "pool update added and removed", method: "PATCH", path: "/v1/pool", body: `{"add":[{"url":"http://u:hunter2@127.0.0.1:9"}],"remove":["` + k0 + `","http://127.0.0.1:9"]}`, want: 400, code: CodeBadRequest},
		{name: "pool update unknown field", method: "PATCH", path: "/v1/pool", body: `{"add":[{"url":"http://127.0.0.1:9"}],"replace":true}`, want: 400, code: CodeBadRequest},
		{name: "select exclude a string", method: "POST", path: "/v1/select", body: `{"exclude":"` + k0 + `"}`, want: 400, code: CodeBadRequest},
		{name: "select region a number", method: "POST", path: "/v1/select", body: `{"region":5}`, want: 400, code: CodeBadRequest},
		{name: "report status a string", method: "POST", path: "/v1/report", body: report(`,"status":"502"`), want: 400, code: CodeBadRequest},
		{name: "report latency a number", method: "POST", path: "/v1/report", body: report(`,"latency":120`), want: 400, code: CodeBadRequest},
		{name: "report status out of range", method: "POST", path: "/v1/report", body: report(`,"status":-1`), want: 400, code: CodeBadRequest},
		{name: "report no body", method: "POST", path: "/v1/report", want: 400, code: CodeBadRequest},
		{name: "patch a string for a number", method: "PATCH", path: "/v1/policy", body: `{"retry":{"max_attempts":"five"}}`, want: 400, code: CodeBadRequest},
		{name: "patch a list for an object", method: "PATCH", path: "/v1/policy", body: `{"retry":[]}`, want: 400, code: CodeBadRequest},
		{name: "patch a number for a duration", method: "PATCH", path: "/v1/policy", body: `{"breaker":{"window":5}}`, want: 400, code: CodeBadRequest},
		{name: "patch a string", method: "PATCH", path: "/v1/policy", body: `"strict"`, want: 400, code: CodeBadRequest},
		{name: "patch not JSON", method: "PATCH", path: "/v1/policy", body: `retry: {}`, want: 400, code: CodeBadRequest},
		// Huge bodies.
		{name: "trip huge", method: "POST", path: trip, body: huge, want: 413, code: CodeTooLarge},
		{name: "patch huge", method: "PATCH", path: "/v1/policy", body: huge, want: 413, code: CodeTooLarge},
		{name: "pool huge", method: "POST", path: "/v1/pool", body: huge, want: 413, code: CodeTooLarge},
		{name: "select huge", method: "POST", path: "/v1/select", body: huge, want: 413, code: CodeTooLarge},
		{name: "report huge", method: "POST", path: "/v1/report", body: huge, want: 413, code: CodeTooLarge},
		{name: "pool update huge", method: "PATCH", path: "/v1/pool", body: hugePool, want: 413, code: CodeTooLarge},
		// Unknown fields.
		{name: "trip unknown field", method: "POST", path: trip, body: `{"for":"5m","colour":"red"}`, want: 400, code: CodeBadRequest},
		{name: "pool unknown field", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9","weight":2}`, want: 400, code: CodeBadRequest},
		{name: "select unknown field", method: "POST", path: "/v1/select", body: `{"regoin":"eu"}`, want: 400, code: CodeBadRequest},
		{name: "report unknown field", method: "POST", path: "/v1/report", body: report(`,"attempt":2`), want: 400, code: CodeBadRequest},
		{name: "patch unknown section", method: "PATCH", path: "/v1/policy", body: `{"colour":{}}`, want: 400, code: CodeBadRequest},
		{name: "patch unknown key", method: "PATCH", path: "/v1/policy", body: `{"retry":{"max_attempts":5,"colour":1}}`, want: 400, code: CodeBadRequest},
		// Unknown upstreams.
		{name: "get unknown", method: "GET", path: "/v1/breakers/" + unknown, want: 404, code: CodeNotFound},
		{name: "trip unknown", method: "POST", path: "/v1/breakers/" + unknown + "/trip", body: `{}`, want: 404, code: CodeNotFound},
		{name: "reset unknown", method: "POST", path: "/v1/breakers/" + unknown + "/reset", want: 404, code: CodeNotFound},
		{name: "remove unknown", method: "DELETE", path: "/v1/pool/" + unknown, want: 404, code: CodeNotFound},
		{name: "report unknown", method: "POST", path: "/v1/report", body: `{"upstream":"http://10.9.9.9:3128","outcome":"ban"}`, want: 404, code: CodeNotFound},
		// Odd path escapes.
		{name: "escaped slashes of an unknown key", method: "POST", path: "/v1/breakers/http:%2F%2F10.9.9.9:1/trip", want: 404, code: CodeNotFound},
		{name: "NUL", method: "POST", path: "/v1/breakers/%00/trip", want: 404, code: CodeNotFound},
		{name: "NUL inside a key", method: "POST", path: "/v1/breakers/" + esc + "%00/trip", want: 404, code: CodeNotFound},
		{name: "double encoded", method: "POST", path: "/v1/breakers/" + url.PathEscape(esc) + "/trip", want: 404, code: CodeNotFound},
		{name: "escaped dot dot", method: "POST", path: "/v1/breakers/..%2F..%2Fpolicy/trip", want: 404, code: CodeNotFound},
		{name: "dot dot segment", method: "DELETE", path: "/v1/pool/..", want: 307}, // ServeMux redirects to the clean path, /v1/
		{name: "dot dot to another route", method: "PATCH", path: "/v1/pool/../policy", body: `{"retry":{"max_attempts":5}}`, want: 307},
		{name: "bad escape", method: "POST", path: "/v1/breakers/%zz/trip", want: 400}, // refused by net/http before the API
		{name: "very long key", method: "POST", path: "/v1/breakers/" + strings.Repeat("k", 64<<10) + "/trip", want: 404, code: CodeNotFound},
		{name: "very long escaped key", method: "GET", path: "/v1/breakers/" + url.PathEscape("http://"+strings.Repeat("h", 8<<10)+":1"), want: 404, code: CodeNotFound},
		{name: "key with a password of an unknown upstream", method: "POST", path: "/v1/breakers/" + url.PathEscape("http://u:hunter2@10.9.9.9:1") + "/trip", want: 404, code: CodeNotFound},
		// Invalid durations.
		{name: "trip 5 minutes", method: "POST", path: trip, body: `{"for":"5 minutes"}`, want: 400, code: CodeBadRequest},
		{name: "trip negative", method: "POST", path: trip, body: `{"for":"-1s"}`, want: 400, code: CodeBadRequest},
		{name: "trip 1000h", method: "POST", path: trip, body: `{"for":"1000h"}`, want: 400, code: CodeBadRequest},
		{name: "trip under a second", method: "POST", path: trip, body: `{"for":"500ms"}`, want: 400, code: CodeBadRequest},
		{name: "trip overflowing", method: "POST", path: trip, body: `{"for":"9999999999999999999h"}`, want: 400, code: CodeBadRequest},
		{name: "trip reason too long", method: "POST", path: trip, body: `{"reason":"` + strings.Repeat("r", 201) + `"}`, want: 400, code: CodeBadRequest},
		{name: "report 5 minutes", method: "POST", path: "/v1/report", body: report(`,"latency":"5 minutes"`), want: 400, code: CodeBadRequest},
		{name: "report negative latency", method: "POST", path: "/v1/report", body: report(`,"latency":"-1s"`), want: 400, code: CodeBadRequest},
		{name: "report 1000h", method: "POST", path: "/v1/report", body: report(`,"latency":"1000h"`), want: 400, code: CodeBadRequest},
		{name: "patch 5 minutes", method: "PATCH", path: "/v1/policy", body: `{"breaker":{"open_timeout":"5 minutes"}}`, want: 400, code: CodeBadRequest},
		{name: "patch negative", method: "PATCH", path: "/v1/policy", body: `{"retry":{"base_delay":"-1s"}}`, want: 400, code: CodeBadRequest},
		{name: "patch 1000h", method: "PATCH", path: "/v1/policy", body: `{"retry":{"max_delay":"1000h"}}`, want: 400, code: CodeBadRequest},
		// Hours out of range.
		{name: "timeseries hours 0", method: "GET", path: "/v1/metrics/timeseries?hours=0", want: 400, code: CodeBadRequest},
		{name: "timeseries hours 169", method: "GET", path: "/v1/metrics/timeseries?hours=169", want: 400, code: CodeBadRequest},
		{name: "proxies hours -1", method: "GET", path: "/v1/metrics/proxies?hours=-1", want: 400, code: CodeBadRequest},
		{name: "events hours abc", method: "GET", path: "/v1/metrics/events?hours=abc", want: 400, code: CodeBadRequest},
		{name: "events hours 1.5", method: "GET", path: "/v1/metrics/events?hours=1.5", want: 400, code: CodeBadRequest},
		{name: "proxies hours huge", method: "GET", path: "/v1/metrics/proxies?hours=99999999999999999999", want: 400, code: CodeBadRequest},
		{name: "breakers bad state", method: "GET", path: "/v1/breakers?state=ajar", want: 400, code: CodeBadRequest},
		// Wrong methods.
		{name: "PUT breakers", method: "PUT", path: "/v1/breakers", body: `{}`, token: good, want: 405, code: CodeMethodNotAllowed},
		{name: "GET trip", method: "GET", path: trip, want: 405, code: CodeMethodNotAllowed},
		{name: "DELETE policy", method: "DELETE", path: "/v1/policy", want: 405, code: CodeMethodNotAllowed},
		{name: "PUT policy", method: "PUT", path: "/v1/policy", body: `{}`, want: 405, code: CodeMethodNotAllowed},
		{name: "PUT pool", method: "PUT", path: "/v1/pool", body: `{}`, want: 405, code: CodeMethodNotAllowed},
		{name: "GET select", method: "GET", path: "/v1/select", want: 405, code: CodeMethodNotAllowed},
		{name: "GET report", method: "GET", path: "/v1/report", want: 405, code: CodeMethodNotAllowed},
		{name: "POST pool entry", method: "POST", path: "/v1/pool/" + esc, want: 405, code: CodeMethodNotAllowed},
		// Missing or wrong tokens.
		{name: "trip no token", method: "POST", path: trip, body: `{}`, anon: true, want: 401, code: CodeUnauthorized},
		{name: "trip wrong token", method: "POST", path: trip, body: `{}`, token: "wrong", want: 401, code: CodeUnauthorized},
		{name: "trip token prefix", method: "POST", path: trip, body: `{}`, token: testToken[:4], want: 401, code: CodeUnauthorized},
		{name: "trip token with suffix", method: "POST", path: trip, body: `{}`, token: testToken + "x", want: 401, code: CodeUnauthorized},
		{name: "patch basic auth", method: "PATCH", path: "/v1/policy", body: `{"retry":{"max_attempts":5}}`, auth: "Basic " + testToken, want: 401, code: CodeUnauthorized},
		{name: "pool bearer without token", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9"}`, auth: "Bearer ", want: 401, code: CodeUnauthorized},
		{name: "pool token alone", method: "POST", path: "/v1/pool", body: `{"url":"http://127.0.0.1:9"}`, auth: testToken, want: 401, code: CodeUnauthorized},
		{name: "pool update no token", anon: true, method: "PATCH", path: "/v1/pool", body: `{"remove":["` + k0 + `"]}`, want: 401, code: CodeUnauthorized},
		{name: "remove no token", anon: true, method: "DELETE", path: "/v1/pool/" + esc, want: 401, code: CodeUnauthorized},
		{name: "select no token", anon: true, method: "POST", path: "/v1/select", body: `{}`, want: 401, code: CodeUnauthorized},
		{name: "report wrong token", method: "POST", path: "/v1/report", body: report(""), token: "wrong", want: 401, code: CodeUnauthorized},
		{name: "writes disabled", fx: noToken, method: "POST", path: "/v1/breakers/" + url.PathEscape(noToken.keys[0]) + "/trip", body: `{}`, token: good, want: 403, code: CodeForbidden},
		{name: "writes disabled patch", fx: noToken, method: "PATCH", path: "/v1/policy", body: `{"retry":{"max_attempts":5}}`, token: good, want: 403, code: CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := tt.fx
			if fx == nil {
				fx = f
			}
			token := tt.token
			if token == "" && tt.auth == "" && !tt.anon {
				token = good // every other refusal must come from the input, not the auth
			}
			before := stateOf(t, fx.c)
			got, body, hdr := rawCall(t, fx, tt.method, tt.path, tt.body, token, tt.auth)
			if got != tt.want {
				t.Fatalf("%s %.80s = %d, want %d; body %.300s", tt.method, tt.path, got, tt.want, body)
			}
			if tt.code != "" {
				if c := errorCode([]byte(body)); c != tt.code {
					t.Errorf("error code = %q, want %q; body %.300s", c, tt.code, body)
				}
				if ct := hdr.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
			}
			if strings.Contains(body, "hunter2") || strings.Contains(body, secretPW) || strings.Contains(body, testToken) {
				t.Errorf("the answer shows a secret: %.300s", body)
			}
			sameState(t, tt.name, before, stateOf(t, fx.c))
		})
	}
}

// rawCall sends a request through the fixture's server without following
// redirects. auth, when set, is the whole Authorization header.
func rawCall(t *testing.T, f *fixture, method, path, body, token, auth string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(path, "?") // sent as is, bad escapes included
	switch {
	case auth != "":
		req.Header.Set("Authorization", auth)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	cl := *f.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v (did the handler panic?)", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
