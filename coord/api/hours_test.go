package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// hoursRoutes are the routes that take ?hours=.
var hoursRoutes = []string{"/v1/metrics/timeseries", "/v1/metrics/proxies", "/v1/metrics/events"}

// TestHoursOutOfRange: on every route that takes ?hours=, a value outside
// 1–168 or not one whole number is a 400 with the JSON error body, never
// an answer for the default 24 hours.
func TestHoursOutOfRange(t *testing.T) {
	f := frozenFixture(t, Config{})
	for _, route := range hoursRoutes {
		for _, query := range []string{
			"hours=0", "hours=169", "hours=-1", "hours=1000",
			"hours=abc", "hours=1.5", "hours=1e2", "hours=0x10", "hours=%205", "hours=%EF%BC%95", // " 5", a full-width 5
			"hours=99999999999999999999",
			"hours=", "hours", // empty
			"hours=2&hours=3", // twice
			"hours=%zz",       // a query string that does not parse
			"x=%zz&hours=2",   // the same, elsewhere in it
			"hours=2;hours=x", // semicolons are no separators
		} {
			t.Run(route+"?"+query, func(t *testing.T) {
				w := serve(t, f.h, "GET", route+"?"+query, "", nil)
				if w.Code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %s", w.Code, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want JSON", ct)
				}
				var body client.ErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == nil {
					t.Fatalf("body %s is not the JSON error: %v", w.Body, err)
				}
				if body.Error.Code != CodeBadRequest || !strings.Contains(body.Error.Message, "hours") {
					t.Errorf("error %+v, want %s naming hours", body.Error, CodeBadRequest)
				}
			})
		}
		for _, query := range []string{"", "?hours=1", "?hours=168", "?hours=24&other=x"} {
			if w := serve(t, f.h, "GET", route+query, "", nil); w.Code != http.StatusOK {
				t.Errorf("GET %s%s: status %d, want 200; body %s", route, query, w.Code, w.Body)
			}
		}
	}
}
