package forward

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveHop(t *testing.T) {
	h := http.Header{
		"Connection":          {"X-A, x-b", " keep-alive "},
		"X-A":                 {"1"},
		"X-B":                 {"2"},
		"Keep-Alive":          {"300"},
		"Proxy-Authorization": {"Basic eA=="},
		"Te":                  {"trailers"},
		"Upgrade":             {"websocket"},
		"X-Kept":              {"3"},
	}
	removeHop(h)
	if diff := cmp.Diff(http.Header{"X-Kept": {"3"}}, h); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAddVia(t *testing.T) {
	tests := []struct {
		prior        []string
		major, minor int
		want         string
	}{
		{[]string{"1.0 fred", "1.1 p.example"}, 1, 0, "1.0 fred, 1.1 p.example, 1.0 retrycoord"},
		{[]string{"1.0 fred"}, 1, 1, "1.0 fred, 1.1 retrycoord"}, // kept before ours on the fast protocol too
		{nil, 1, 1, "1.1 retrycoord"},
		{nil, 1, 0, "1.0 retrycoord"}, // no leading ", " without a prior Via
		{nil, 2, 0, "2.0 retrycoord"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.prior != nil {
			h["Via"] = slices.Clone(tt.prior)
		}
		addVia(h, tt.major, tt.minor)
		if got := h["Via"]; len(got) != 1 || got[0] != tt.want {
			t.Errorf("Via %q after %q at HTTP/%d.%d, want [%q]", got, tt.prior, tt.major, tt.minor, tt.want)
		}
	}
}

func TestAuthenticator(t *testing.T) {
	a := newAuthenticator(Credentials{User: "alice", Password: "pa:ss"})
	tests := []struct {
		name   string
		header string
		want   bool
	}{
		{"right", basicAuth("alice", "pa:ss"), true},
		{"scheme case", "bAsIc " + basicAuth("alice", "pa:ss")[6:], true},
		{"empty", "", false},
		{"wrong password", basicAuth("alice", "pa"), false},
		{"wrong user", basicAuth("alic", "pa:ss"), false},
		{"bearer", "Bearer abc", false},
		{"bad base64", "Basic !!!", false},
		{"no colon", "Basic YWxpY2U=", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.ok(tt.header); got != tt.want {
				t.Errorf("ok(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func FuzzAuthenticator(f *testing.F) {
	a := newAuthenticator(Credentials{User: "u", Password: "p"})
	for _, s := range []string{"", "Basic dTpw", "basic ", "Basic =", "Basic dTo="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		_ = a.ok(header) // must not panic
	})
}

func TestIsEventStream(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"Text/Event-Stream; charset=utf-8", true},
		{" text/event-stream ;x=1", true},
		{"text/event-streams", false},
		{"text/html", false},
		{"", false},
	} {
		if got := isEventStream(tc.ct); got != tc.want {
			t.Errorf("isEventStream(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}
