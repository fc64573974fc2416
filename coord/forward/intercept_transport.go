package forward

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
)

// mitmTransport sends the requests of intercepted connections through the
// coordinator. Each attempt goes through the chosen upstream on a
// connection of that upstream's own http.Transport, whose TLS dial opens a
// CONNECT tunnel through the upstream (dialTunnel, as for blind tunnels)
// and makes the TLS handshake with the origin inside it, verifying the
// origin's certificate. Knowing the upstream when a certificate fails to
// verify is what lets a wrong certificate be blamed on the proxy that
// presented it, and a bad one everywhere on the site (certMemo). It is safe
// for concurrent use.
type mitmTransport struct {
	p     *Proxy
	roots *x509.CertPool // nil: the system's
	memo  *certMemo
	trs   sync.Map // *coord.Upstream → *http.Transport
}

func newMitmTransport(p *Proxy, roots *x509.CertPool) *mitmTransport {
	return &mitmTransport{p: p, roots: roots, memo: newCertMemo()}
}

// RoundTrip sends req (an https:// request) through the coordinator with
// retries and failover. A body up to coord.DefaultMaxReplayBody is
// buffered and sent again on a retry; a larger one gets one attempt.
func (t *mitmTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request counts against the CONNECT target's site (its URL's
	// host is the CONNECT target, which the client's SNI matched).
	ctx := coord.WithMethod(coord.WithSite(req.Context(), t.p.c.SiteFor(req)), req.Method)
	var (
		body []byte
		rest io.Reader
	)
	if req.Body != nil && req.Body != http.NoBody {
		defer req.Body.Close()
		b, err := io.ReadAll(io.LimitReader(req.Body, coord.DefaultMaxReplayBody+1))
		if err != nil {
			return nil, coord.Fatal(fmt.Errorf("coord: reading request body: %w", err))
		}
		body = b
		if len(b) > coord.DefaultMaxReplayBody {
			rest = req.Body
			rp := t.p.c.Document().Retry
			rp.MaxAttempts = 1
			var err error
			if ctx, err = coord.WithRetryPolicy(ctx, rp); err != nil {
				return nil, err
			}
		}
	}
	hdr := req.Header
	if _, ok := hdr["User-Agent"]; !ok { // none from the client: none from net/http either
		hdr = hdr.Clone()
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr["User-Agent"] = []string{""}
	}
	res, err := t.p.c.Do(ctx, func(ctx context.Context, u *coord.Upstream) (*http.Response, error) {
		return t.attempt(ctx, u, req, hdr, body, rest)
	})
	if err != nil {
		return nil, err
	}
	if res.Response == nil { // a synthetic refusal the policy does not retry
		return nil, &coord.GiveUpError{Attempts: res.Attempts, Upstream: res.Upstream.Key(), Last: errors.New("no answer")}
	}
	res.Response.Header.Set(coord.HeaderAttempts, strconv.Itoa(res.Attempts))
	res.Response.Header.Set(coord.HeaderUpstream, res.Upstream.Key())
	return res.Response, nil
}

// attempt sends req once through u. An error after which nothing reached
// the origin is marked coord.NotSent, so that even a POST is retried.
func (t *mitmTransport) attempt(ctx context.Context, u *coord.Upstream, req *http.Request, hdr http.Header, body []byte, rest io.Reader) (*http.Response, error) {
	var sent sentTrace
	r := req.WithContext(sent.with(ctx))
	r.Header = hdr
	switch {
	case rest != nil:
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), rest))
		r.GetBody = nil
	case body != nil:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	default:
		r.Body = http.NoBody
	}
	resp, err := t.transportFor(u).RoundTrip(r)
	if err != nil && (!sent.gotConn.Load() || !sent.wrote.Load()) {
		err = coord.NotSent(err)
	}
	return resp, err
}

// sentTrace tells whether a round trip got a connection and wrote its
// request header.
type sentTrace struct{ gotConn, wrote atomic.Bool }

func (s *sentTrace) with(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { s.gotConn.Store(true) },
		WroteHeaders: func() { s.wrote.Store(true) },
	})
}

func (t *mitmTransport) transportFor(u *coord.Upstream) *http.Transport {
	if tr, ok := t.trs.Load(u); ok {
		return tr.(*http.Transport)
	}
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return t.dialOrigin(ctx, u, addr)
		},
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	if got, loaded := t.trs.LoadOrStore(u, tr); loaded {
		return got.(*http.Transport)
	}
	return tr
}

func (t *mitmTransport) closeIdle() {
	t.trs.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// dialOrigin opens a tunnel to addr through u and makes the TLS handshake
// with the origin inside it, offering HTTP/1.1 only.
func (t *mitmTransport) dialOrigin(ctx context.Context, u *coord.Upstream, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, coord.Fatal(fmt.Errorf("forward: bad target %q", addr))
	}
	resp, uc, err := t.p.dialTunnel(ctx, u, addr)
	if err != nil {
		return nil, err
	}
	if uc == nil { // the upstream refused: judged like a refusal of any CONNECT
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		_ = resp.Body.Close()
		return nil, &coord.ConnectError{Proxy: u.Key(), StatusCode: resp.StatusCode, Header: resp.Header}
	}
	var conn net.Conn = uc.conn
	if uc.br != nil && uc.br.Buffered() > 0 {
		conn = &bufferedConn{Conn: uc.conn, r: uc.br}
	}
	hctx, cancel := context.WithTimeout(ctx, t.p.connectTO)
	defer cancel()
	tc := tls.Client(conn, &tls.Config{
		ServerName: host,
		RootCAs:    t.roots,
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = uc.conn.Close()
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return nil, t.certFailed(u, normalHost(host), cve)
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("forward: TLS to %s through upstream %s: %w", host, u.Key(), err)
	}
	for _, key := range t.memo.good(normalHost(host), u.Key(), time.Now()) {
		// It showed a wrong certificate for a host that verifies: its fault.
		_ = t.p.c.Report(key, coord.ClassFailure, 0, 0)
	}
	return tc, nil
}

// certFailed judges an origin certificate that did not verify through u.
func (t *mitmTransport) certFailed(u *coord.Upstream, host string, cve *tls.CertificateVerificationError) error {
	var fp [sha256.Size]byte
	if len(cve.UnverifiedCertificates) > 0 {
		fp = sha256.Sum256(cve.UnverifiedCertificates[0].Raw)
	}
	switch n, v := t.memo.bad(host, u.Key(), fp, time.Now()); v {
	case verdictProxy:
		return coord.NotSent(fmt.Errorf("forward: upstream %s presented a certificate for %s that does not verify, "+
			"while the host's own verifies through other upstreams (a proxy that intercepts TLS?): %w", u.Key(), host, cve.Err))
	case verdictSite:
		return coord.Fatal(&siteCertError{host: host, upstreams: n, err: cve.Err})
	}
	msg := fmt.Sprintf("forward: the certificate of %s through upstream %s does not verify: %v", host, u.Key(), cve.Err)
	if rp := t.p.c.Document().Retry.WithDefaults(); !rp.Retries(http.StatusBadGateway) {
		return coord.NotSent(errors.New(msg)) // no status to carry a target failure: a failure
	}
	// Not yet known whose it is: retried elsewhere, against no proxy (a
	// target failure, RFC 9209's tls_certificate_error).
	return coord.NotSent(&unverifiedError{msg: msg, ce: &coord.ConnectError{
		Proxy: u.Key(), StatusCode: http.StatusBadGateway,
		Header: http.Header{"Proxy-Status": {"retrycoord; error=tls_certificate_error"}},
	}})
}

// unverifiedError is an origin certificate not yet known to be the
// proxy's or the site's fault, classified as a target failure through its
// ConnectError.
type unverifiedError struct {
	msg string
	ce  *coord.ConnectError
}

func (e *unverifiedError) Error() string { return e.msg }
func (e *unverifiedError) Unwrap() error { return e.ce }

// siteCertError is an origin whose certificate does not verify through
// several upstreams: the site's fault, not theirs.
type siteCertError struct {
	host      string
	upstreams int
	err       error
}

func (e *siteCertError) Error() string {
	return "the certificate of " + e.host + " does not verify through " + strconv.Itoa(e.upstreams) +
		" upstream proxies (the site's fault, not theirs): " + e.err.Error()
}

func (e *siteCertError) Unwrap() error { return e.err }
