package api

import (
	"bytes"
	"encoding/json"
	"github.com/proxywhirl/retrycoord/coord/api/client"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/state"
)

// apiState is what a request may change: the table (breakers and facts),
// the pool and the policy document.
type apiState struct {
	Records []state.Record
	Pool    []string // key, redacted URL and metadata of each upstream
	Policy  string
}

func stateOf(t testing.TB, c *coord.Coordinator) apiState {
	t.Helper()
	var s apiState
	s.Records = c.Table().Snapshot()
	slices.SortFunc(s.Records, func(a, b state.Record) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.Upstream, b.Upstream)
	})
	for _, u := range c.Upstreams() {
		m, _ := json.Marshal(u.Meta())
		s.Pool = append(s.Pool, u.Key()+" "+u.URL().Redacted()+" "+string(m))
	}
	doc, err := c.Document().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.Policy = string(doc)
	return s
}

// sameState fails t when the state changed.
func sameState(t testing.TB, what string, before, after apiState) {
	t.Helper()
	if diff := cmp.Diff(before, after, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%s changed the state (-before +after):\n%s", what, diff)
	}
}

// frozenFixture is newFixtureWith over a table and recorder whose clock
// stands still, so that a Snapshot taken before a request equals one taken
// after it unless the request changed something.
func frozenFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	tb, err := state.NewTable(state.Config{Node: "local", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, cfg, coord.Config{Table: tb, Now: clock})
}

// serve runs one request through the handler itself (no server in between,
// so that a panic fails the test instead of being recovered by net/http).
func serve(t testing.TB, h http.Handler, method, target, token string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req, err := http.NewRequest(method, "http://api.test"+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// errorCode returns the code of a JSON error answer, or "".
func errorCode(body []byte) string {
	var e client.ErrorBody
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// bodyRoutes are the write routes FuzzAPIBodies sends bodies to; the path
// of a trip is filled in with the fuzzed upstream.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/v1/breakers/%s/trip"},
	{"PATCH", "/v1/policy"},
	{"POST", "/v1/pool"},
	{"POST", "/v1/select"},
	{"POST", "/v1/report"},
	{"PATCH", "/v1/pool"},
}

// fuzzPool is the pool of every FuzzAPIBodies input: nothing is dialed, so
// the ports need no listener.
var fuzzPool = []coord.PoolEntry{
	{URL: "http://127.0.0.1:1", Meta: map[string]string{"region": "eu"}},
	{URL: "http://127.0.0.1:2", Meta: map[string]string{"region": "us"}},
	{URL: "http://user:" + secretPW + "@127.0.0.1:3"},
}

// freshHandler returns a handler over a new coordinator with fuzzPool and a
// frozen clock, so that every input starts from the same state (and the
// fuzzer's coverage of an input does not depend on the ones before it).
func freshHandler(t testing.TB) (*coord.Coordinator, *Handler) {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	tb, err := state.NewTable(state.Config{Node: "local", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c, err := coord.New(coord.Config{Table: tb, Now: clock, Pool: fuzzPool})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{Coordinator: c, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(); _ = c.Close() })
	return c, h
}

// FuzzAPIBodies sends fuzzed bodies to every write route with a valid
// token. The handler never panics and answers < 500 (503 no_upstream from
// select aside) with a JSON error for every refusal; a refused request
// changes nothing; an accepted one did what it says.
func FuzzAPIBodies(f *testing.F) {
	const k0 = "http://127.0.0.1:1"
	for _, s := range []struct {
		route    uint8
		upstream string
		body     string
	}{
		{0, "", `{"for":"5m","reason":"maintenance"}`},
		{0, "", ``},
		{0, "", `{"for":"-1s"}`},
		{0, "", `{"for":"1000h"}`},
		{0, "", `{"for":5}`},
		{0, "http://10.9.9.9:1", `{}`},
		{0, "http://u:" + secretPW + "@127.0.0.1:3", `{}`},
		{0, "", `{"reason":"` + strings.Repeat("r", 201) + `"}`},
		{1, "", `{"retry":{"max_attempts":5}}`},
		{1, "", `{"retry":null,"select":{"strategy":null}}`},
		{1, "", `{"breaker":{"window":"-1s"}}`},
		{1, "", `null`},
		{1, "", `{"retry":{"retry_status":[null]}}`},
		{2, "", `{"url":"http://u:hunter2@127.0.0.1:9","meta":{"region":"ap"}}`},
		{2, "", `{"url":"http://user:hunter2/x@127.0.0.1:9"}`},
		{2, "", `{"url":["http://127.0.0.1:9"]}`},
		{3, "", `{"region":"eu","exclude":["` + k0 + `"]}`},
		{3, "", `{"exclude":"` + k0 + `"}`},
		{4, "", `{"upstream":"` + k0 + `","outcome":"failure","status":502,"latency":"120ms"}`},
		{4, "", `{"upstream":"` + k0 + `","outcome":"ban","status":-1}`},
		{4, "", `{"upstream":"` + k0 + `","outcome":"success","latency":"5 minutes"}`},
		{5, "", `{"add":[{"url":"http://u:hunter2@127.0.0.1:9","meta":{"region":"ap"}},{"url":"http://127.0.0.1:1"}],"remove":["http://127.0.0.1:2"]}`},
		{5, "", `{"add":[{"url":"http://127.0.0.1:9"}],"remove":["http://127.0.0.1:9"]}`},
		{5, "", `{"add":[{"url":"ftp://127.0.0.1:9"}]}`},
		{5, "", `{"remove":["http://user:` + secretPW + `@127.0.0.1:3","nonsense"]}`},
	} {
		f.Add(s.route, s.upstream, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, upstream string, body []byte) {
		c, h := freshHandler(t)
		rt := bodyRoutes[int(route)%len(bodyRoutes)]
		target := rt.path
		if strings.Contains(target, "%s") {
			if upstream == "" {
				upstream = k0
			}
			target = strings.Replace(target, "%s", url.PathEscape(upstream), 1)
		}
		before := stateOf(t, c)
		w := serve(t, h, rt.method, target, testToken, body)
		after := stateOf(t, c)
		got, out := w.Code, w.Body.Bytes()
		what := rt.method + " " + target + " " + shortQuote(body)
		switch {
		case got >= 500 && !(got == 503 && rt.path == "/v1/select" && errorCode(out) == CodeNoUpstream):
			t.Fatalf("%s = %d %s", what, got, out)
		case got >= 300 && got < 400: // ServeMux redirects an unclean path ("/./", "/../")
			sameState(t, what, before, after)
			return
		case got >= 400:
			if errorCode(out) == "" {
				t.Fatalf("%s = %d without a JSON error: %s", what, got, out)
			}
			sameState(t, what, before, after)
			return
		}
		if rt.path != "/v1/select" && bytes.Contains(out, []byte(":hunter2@")) { // select hands out credentials
			t.Fatalf("%s leaks a password: %s", what, out)
		}
		switch rt.path {
		case "/v1/policy":
			if got != 200 || strings.TrimSpace(string(out)) != after.Policy {
				t.Fatalf("%s = %d %s; the policy is now %s", what, got, out, after.Policy)
			}
		case "/v1/pool":
			if rt.method == "PATCH" {
				checkPoolUpdate(t, c, what, got, body, out)
				return
			}
			var u Upstream
			if got != 201 || json.Unmarshal(out, &u) != nil || c.Upstream(u.Upstream) == nil {
				t.Fatalf("%s = %d %s, and the upstream is not in the pool", what, got, out)
			}
		case "/v1/select":
			sameState(t, what, before, after)
		default:
			if got != 200 {
				t.Fatalf("%s = %d %s", what, got, out)
			}
			if strings.HasSuffix(rt.path, "/trip") {
				var b Breaker
				if json.Unmarshal(out, &b) != nil || b.Phase != state.PhaseOpen.String() ||
					c.Table().State(b.Upstream) != state.PhaseOpen {
					t.Fatalf("%s = %d %s, and the breaker is not open", what, got, out)
				}
			}
		}
	})
}

func shortQuote(b []byte) string {
	if len(b) > 200 {
		b = append(b[:200:200], "..."...)
	}
	q, _ := json.Marshal(string(b))
	return string(q)
}

// checkPoolUpdate fails t unless an accepted PATCH /v1/pool answered 200
// with counts that add up to the keys it added, every one of which is now
// in the pool, and none of those it removed.
func checkPoolUpdate(t *testing.T, c *coord.Coordinator, what string, got int, body, out []byte) {
	t.Helper()
	var req PoolUpdateRequest
	var done PoolUpdate
	if got != 200 || json.Unmarshal(body, &req) != nil || json.Unmarshal(out, &done) != nil {
		t.Fatalf("%s = %d %s", what, got, out)
	}
	added := map[string]bool{}
	for _, a := range req.Add {
		u, err := coord.ParseUpstream(coord.PoolEntry{URL: a.URL, Meta: a.Meta})
		if err != nil {
			t.Fatalf("%s accepted a bad entry %q: %v", what, a.URL, err)
		}
		added[u.Key()] = true
		if c.Upstream(u.Key()) == nil {
			t.Fatalf("%s = %s, and %s is not in the pool", what, out, u.Key())
		}
	}
	if n := done.Added + done.Replaced + done.Unchanged; n != len(added) {
		t.Fatalf("%s = %s: %d counted for %d keys added", what, out, n, len(added))
	}
	for _, k := range req.Remove {
		if u, err := coord.ParseUpstream(coord.PoolEntry{URL: k}); err == nil {
			k = u.Key()
		}
		if c.Upstream(k) != nil {
			t.Fatalf("%s = %s, and %s is still in the pool", what, out, k)
		}
	}
}
