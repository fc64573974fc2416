package coord

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// TargetFailed reports whether a proxy's answer says that the target, not
// the proxy, failed: the error of the Proxy-Status field (RFC 9209) of the
// intermediary nearest to us (the field's last member that carries an
// error) is about the next hop — DNS, connection, TLS or the target's
// response — or, without Proxy-Status, squid's X-Squid-Error names such an
// error (ERR_CONNECT_FAIL, ERR_DNS_FAIL, ...). Errors a proxy reports about
// itself (proxy_internal_error, http_request_denied, ERR_ACCESS_DENIED,
// ...) and answers without either field are not.
func TargetFailed(h http.Header) bool {
	if vs := h.Values("Proxy-Status"); len(vs) > 0 {
		if e := proxyStatusError(strings.Join(vs, ",")); e != "" {
			return targetErrors[e]
		}
	}
	if v := h.Get("X-Squid-Error"); v != "" {
		code, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		return squidTargetErrors[code]
	}
	return false
}

// targetErrors are the RFC 9209 §2.3 error types about the next hop.
var targetErrors = map[string]bool{
	"dns_timeout": true, "dns_error": true, "destination_not_found": true,
	"destination_unavailable": true, "destination_ip_prohibited": true,
	"destination_ip_unroutable": true, "connection_refused": true,
	"connection_terminated": true, "connection_timeout": true,
	"connection_read_timeout": true, "connection_write_timeout": true,
	"tls_protocol_error": true, "tls_certificate_error": true, "tls_alert_received": true,
	"http_response_incomplete": true, "http_response_header_section_size": true,
	"http_response_header_size": true, "http_response_body_size": true,
	"http_response_trailer_section_size": true, "http_response_trailer_size": true,
	"http_response_transfer_coding": true, "http_response_content_coding": true,
	"http_response_timeout": true, "http_upgrade_failed": true, "http_protocol_error": true,
}

// squidTargetErrors are squid's error pages about the target.
var squidTargetErrors = map[string]bool{
	"ERR_CONNECT_FAIL": true, "ERR_DNS_FAIL": true, "ERR_READ_TIMEOUT": true,
	"ERR_READ_ERROR": true, "ERR_WRITE_ERROR": true, "ERR_ZERO_SIZE_OBJECT": true,
	"ERR_SECURE_CONNECT_FAIL": true, "ERR_INVALID_RESP": true, "ERR_LIFETIME_EXP": true,
	"ERR_GATEWAY_FAILURE": true,
}

// proxyStatusError returns the error parameter of the last member of a
// Proxy-Status list that has one, or "". It parses the structured-field
// list (RFC 8941) only as far as that needs: members split on commas
// outside quoted strings, parameters on semicolons.
func proxyStatusError(v string) string {
	members := splitOutsideQuotes(v, ',')
	for i := len(members) - 1; i >= 0; i-- {
		params := splitOutsideQuotes(members[i], ';')
		for _, p := range params[1:] {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && k == "error" {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// isSOCKSAuth reports whether err is a SOCKS5 server refusing our
// credentials (or asking for some we did not send). net/http and
// golang.org/x/net/proxy share one SOCKS client whose errors are untyped,
// so their text decides.
func isSOCKSAuth(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		s := e.Error()
		if strings.Contains(s, "username/password authentication failed") ||
			strings.Contains(s, "no acceptable authentication methods") ||
			strings.Contains(s, "unsupported authentication method") {
			return true
		}
	}
	return false
}

// ConnectError is a proxy's refusal (a status other than 200) of the
// CONNECT that net/http sends for an https target through an http proxy,
// as Transport sees it. It keeps the status and header, so the Classifier
// judges it like any other answer from the proxy: 407 is proxy_auth, a
// target failure is ClassTarget.
type ConnectError struct {
	Proxy      string      // the upstream's key
	StatusCode int         // the proxy's status
	Header     http.Header // the proxy's header
}

func (e *ConnectError) Error() string {
	return "coord: proxy " + e.Proxy + " refused CONNECT: " + statusText(e.StatusCode)
}

func (e *ConnectError) response() *http.Response {
	return &http.Response{StatusCode: e.StatusCode, Header: e.Header, Body: http.NoBody}
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}
