package testproxy

import (
	"fmt"
	"time"
)

// Kind names what a Fault does.
type Kind uint8

const (
	KindHealthy   Kind = iota // forward the request
	KindRefuse                // reset the connection on accept
	KindStatus                // answer with Fault.Status from the proxy
	KindProxyAuth             // answer 407 Proxy Authentication Required
	KindHang                  // hold the request until its context ends or Fault.Delay
	KindSlow                  // wait Fault.Delay, then forward
	KindBan                   // answer Fault.Status (403/429) as the target would
)

// Fault is the behaviour of a proxy. The zero Fault is Healthy.
type Fault struct {
	Kind   Kind
	Status int           // KindStatus and KindBan
	Delay  time.Duration // KindSlow: the added delay; KindHang: the bound (0: 30s)
	// RetryAfter, when set, is sent as the Retry-After header with KindStatus
	// and KindBan answers (seconds such as "2" or an HTTP-date).
	RetryAfter string
	// Only, when set, limits the fault to requests for one target
	// ("host:port", as in the request URL or the CONNECT line): a site
	// that bans this proxy alone. Requests for other targets are forwarded.
	Only string
}

// BanOnly answers code (403/429) to requests for target ("host:port")
// alone, as a site that banned this proxy would; others are forwarded.
func BanOnly(target string, code int) Fault { return Fault{Kind: KindBan, Status: code, Only: target} }

// Healthy forwards every request.
func Healthy() Fault { return Fault{} }

// Refuse resets every connection as soon as it is accepted.
func Refuse() Fault { return Fault{Kind: KindRefuse} }

// Status answers every request with code from the proxy itself (502, 503,
// 504, ...).
func Status(code int) Fault { return Fault{Kind: KindStatus, Status: code} }

// ProxyAuth answers every request with 407 Proxy Authentication Required.
func ProxyAuth() Fault { return Fault{Kind: KindProxyAuth, Status: 407} }

// Hang holds every request until its context ends or bound passes (0: 30s),
// then drops the connection without an answer.
func Hang(bound time.Duration) Fault { return Fault{Kind: KindHang, Delay: bound} }

// Slow waits d before forwarding each request.
func Slow(d time.Duration) Fault { return Fault{Kind: KindSlow, Delay: d} }

// Ban answers every request with code (403 or 429), as a target that has
// banned the proxy's address would.
func Ban(code int) Fault { return Fault{Kind: KindBan, Status: code} }

// String describes the fault, e.g. "status 502" or "slow 100ms".
func (f Fault) String() string {
	switch f.Kind {
	case KindHealthy:
		return "healthy"
	case KindRefuse:
		return "refuse"
	case KindStatus:
		return fmt.Sprintf("status %d", f.Status)
	case KindProxyAuth:
		return "proxy-auth 407"
	case KindHang:
		return fmt.Sprintf("hang %v", f.Delay)
	case KindSlow:
		return fmt.Sprintf("slow %v", f.Delay)
	case KindBan:
		return fmt.Sprintf("ban %d", f.Status)
	}
	return fmt.Sprintf("fault(%d)", f.Kind)
}
