package coord

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

func newReportCoord(t *testing.T, urls ...string) *Coordinator {
	t.Helper()
	c, err := New(Config{Pool: Entries(urls...)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReportByKeyOrURL: Report takes the upstream's key or its URL, as
// Remove does: five failures reported under five names of one upstream
// open its breaker, and the Recorder counts them on its key.
func TestReportByKeyOrURL(t *testing.T) {
	const key = "http://proxy.example:8080"
	c := newReportCoord(t, "http://user:pw@proxy.example:8080", "socks5://10.0.0.1")
	names := []string{
		key,                                 // the key
		"http://user:pw@proxy.example:8080", // the pool's URL
		"http://other:creds@Proxy.Example:8080/",
		"HTTP://proxy.example:8080",
		"http://proxy.example:08080",
	}
	for _, name := range names {
		if err := c.Report(name, ClassFailure, 502, time.Millisecond); err != nil {
			t.Fatalf("Report(%q) = %v", name, err)
		}
	}
	if got := c.Table().State(key); got != state.PhaseOpen {
		t.Errorf("%s after %d failures under its names is %v, want open", key, len(names), got)
	}
	for _, a := range c.Recorder().Attempts(len(names)) {
		if a.Upstream != key {
			t.Errorf("attempt recorded on %q, want %q", a.Upstream, key)
		}
	}
	if err := c.Report("socks5://10.0.0.1", ClassSuccess, 200, time.Millisecond); err != nil {
		t.Errorf("Report by a URL without its default port: %v", err)
	}
}

// TestReportUnknownHidesCredentials: an upstream not in the pool is an
// error wrapping ErrUnknownUpstream that never shows a credential, whether
// or not the URL parses.
func TestReportUnknownHidesCredentials(t *testing.T) {
	c := newReportCoord(t, "http://proxy.example:8080")
	for _, raw := range []string{
		"http://user:hunter2@other.example:8080", // parses: named by its key
		"http://user:hunter2@proxy.example:0",    // a bad port
		"ftp://user:hunter2@proxy.example:21",    // a bad scheme
		"http://hunter2@proxy.example:99999",     // a token as the user name
		"user:hunter2@proxy.example:8080",        // no scheme
		"http://user:hun/ter2@proxy.example:8080",
	} {
		err := c.Report(raw, ClassSuccess, 200, 0)
		if !errors.Is(err, ErrUnknownUpstream) {
			t.Errorf("Report(%q) = %v, want ErrUnknownUpstream", raw, err)
			continue
		}
		for _, secret := range []string{"hunter2", "hun", "ter2", "user"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Report(%q) = %q: shows %q", raw, err, secret)
			}
		}
	}
}
