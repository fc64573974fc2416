package coord

import (
	"net/http"
	"testing"
)

func TestTargetFailed(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"none", http.Header{}, false},
		{"squid connect fail", http.Header{"X-Squid-Error": {"ERR_CONNECT_FAIL 111"}}, true},
		{"squid dns", http.Header{"X-Squid-Error": {"ERR_DNS_FAIL 0"}}, true},
		{"squid access denied", http.Header{"X-Squid-Error": {"ERR_ACCESS_DENIED 0"}}, false},
		{"proxy-status refused", http.Header{"Proxy-Status": {"squid; error=connection_refused"}}, true},
		{"proxy-status timeout, quoted details", http.Header{"Proxy-Status": {`p; error=connection_timeout; details="a; error=proxy_internal_error, b"`}}, true},
		{"proxy-status own error", http.Header{"Proxy-Status": {"p; error=proxy_configuration_error"}}, false},
		{"nearest member decides", http.Header{"Proxy-Status": {"far; error=dns_error, near; error=http_request_denied"}}, false},
		{"nearest with an error decides", http.Header{"Proxy-Status": {"far; error=dns_error, near; received-status=503"}}, true},
		{"two field lines", http.Header{"Proxy-Status": {"far; error=proxy_internal_error", "near; error=destination_unavailable"}}, true},
		{"proxy-status wins over squid's", http.Header{"Proxy-Status": {"p; error=proxy_internal_error"}, "X-Squid-Error": {"ERR_CONNECT_FAIL 111"}}, false},
		{"proxy-status without error falls back", http.Header{"Proxy-Status": {"p"}, "X-Squid-Error": {"ERR_READ_TIMEOUT 0"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetFailed(tt.h); got != tt.want {
				t.Errorf("TargetFailed(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}
