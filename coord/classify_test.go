package coord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// withHeader is an answer with one header field.
func withHeader(code int, k, v string) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{k: {v}}, Body: http.NoBody}
}

func TestClassify(t *testing.T) {
	rp := policy.DefaultRetry()
	status := func(code int) *http.Response { return &http.Response{StatusCode: code, Body: http.NoBody} }
	captcha := &Classifier{IsBan: func(r *http.Response) bool {
		b, _ := PeekBody(r, 64)
		return strings.Contains(string(b), "captcha")
	}}
	tests := []struct {
		name   string
		c      *Classifier
		resp   *http.Response
		err    error
		class  Class
		reason Reason
	}{
		{"200", &Classifier{}, status(200), nil, ClassSuccess, ReasonNone},
		{"404 is the caller's", &Classifier{}, status(404), nil, ClassSuccess, ReasonNone},
		{"500 not listed", &Classifier{}, status(500), nil, ClassSuccess, ReasonNone},
		{"502", &Classifier{}, status(502), nil, ClassFailure, ReasonStatus},
		{"407", &Classifier{}, status(407), nil, ClassFailure, ReasonProxyAuth},
		{"403 ban", &Classifier{}, status(403), nil, ClassBan, ReasonBan},
		{"429 ban", &Classifier{}, status(429), nil, ClassBan, ReasonBan},
		{"403 with no bans", &Classifier{BanStatus: []int{}}, status(403), nil, ClassSuccess, ReasonNone},
		{"451 configured", &Classifier{BanStatus: []int{451}}, status(451), nil, ClassBan, ReasonBan},
		{"connect", &Classifier{}, nil, &net.OpError{Op: "dial", Err: errors.New("refused")}, ClassFailure, ReasonConnect},
		{"deadline", &Classifier{}, nil, fmt.Errorf("x: %w", context.DeadlineExceeded), ClassFailure, ReasonTimeout},
		{"canceled", &Classifier{}, nil, context.Canceled, ClassAbandoned, ReasonCanceled},
		{"fatal", &Classifier{}, nil, Fatal(errors.New("bad URL")), ClassFatal, ReasonFatal},
		{"squid: target refused", &Classifier{}, withHeader(503, "X-Squid-Error", "ERR_CONNECT_FAIL 111"), nil, ClassTarget, ReasonTarget},
		{"squid: its own error", &Classifier{}, withHeader(503, "X-Squid-Error", "ERR_SHUTTING_DOWN 0"), nil, ClassFailure, ReasonStatus},
		{"Proxy-Status: target", &Classifier{}, withHeader(502, "Proxy-Status", `proxy.example; error=connection_refused; details="x, y"`), nil, ClassTarget, ReasonTarget},
		{"Proxy-Status: the proxy's own", &Classifier{}, withHeader(502, "Proxy-Status", "proxy.example; error=proxy_internal_error"), nil, ClassFailure, ReasonStatus},
		{"target header on an unlisted status", &Classifier{}, withHeader(500, "X-Squid-Error", "ERR_CONNECT_FAIL 111"), nil, ClassSuccess, ReasonNone},
		{"CONNECT 407", &Classifier{}, nil, &ConnectError{StatusCode: 407, Header: http.Header{}}, ClassFailure, ReasonProxyAuth},
		{"CONNECT 503 target", &Classifier{}, nil, &ConnectError{StatusCode: 503, Header: http.Header{"X-Squid-Error": {"ERR_DNS_FAIL 0"}}}, ClassTarget, ReasonTarget},
		{"socks5 auth", &Classifier{}, nil, errors.New("socks connect tcp a->b: username/password authentication failed"), ClassFailure, ReasonProxyAuth},
		{"socks5 no method", &Classifier{}, nil, fmt.Errorf("forward: %w", errors.New("socks connect tcp a->b: no acceptable authentication methods")), ClassFailure, ReasonProxyAuth},
		{"captcha", captcha, &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("solve this captcha"))}, nil, ClassBan, ReasonBan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, reason := tt.c.Classify(tt.resp, tt.err, &rp)
			if class != tt.class || reason != tt.reason {
				t.Errorf("Classify = %v/%v, want %v/%v", class, reason, tt.class, tt.reason)
			}
		})
	}
}

func TestPeekBodyKeepsTheBody(t *testing.T) {
	resp := &http.Response{Body: io.NopCloser(strings.NewReader("hello world"))}
	b, err := PeekBody(resp, 5)
	if err != nil || string(b) != "hello" {
		t.Fatalf("PeekBody = %q, %v", b, err)
	}
	all, _ := io.ReadAll(resp.Body)
	if string(all) != "hello world" {
		t.Errorf("body after peek = %q", all)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "junk": 0,
		now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSelectAndReport(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://a:1")})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Select(WithRegion(context.Background(), "eu"))
	if err != nil || u.Key() != "http://a:1" {
		t.Fatalf("Select = %v, %v", u, err)
	}
	for range 5 {
		if err := c.Report("http://a:1", ClassFailure, 502, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select(context.Background()); !errors.Is(err, ErrNoUpstream) {
		t.Errorf("Select after 5 reported failures: %v, want ErrNoUpstream", err)
	}
	if err := c.Report("http://nope:1", ClassSuccess, 200, 0); err == nil {
		t.Error("Report for an unknown upstream: want an error")
	}
	if s := c.Recorder().Summary(); s.Attempts != 5 {
		t.Errorf("recorded %d attempts, want 5", s.Attempts)
	}
}

// TestClassAndReasonNames: every class and reason has its name, and a value
// past the last named one prints as a number instead of indexing past the
// names (the metrics and the API key failures by these names).
func TestClassAndReasonNames(t *testing.T) {
	classes := map[Class]string{ClassSuccess: "success", ClassFailure: "failure", ClassBan: "ban", ClassFatal: "fatal",
		ClassAbandoned: "abandoned", ClassTarget: "target", ClassTarget + 1: "class(6)"}
	for c, want := range classes {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
	reasons := map[Reason]string{ReasonNone: "none", ReasonProxyAuth: "proxy_auth", ReasonHedgeLost: "hedge_lost",
		ReasonHedgeLost + 1: "reason(11)", 200: "reason(200)"}
	for r, want := range reasons {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}
