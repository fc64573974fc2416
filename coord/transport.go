package coord

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
)

// Response headers set by Transport (and by the forward proxy).
const (
	HeaderAttempts = "X-Retrycoord-Attempts" // attempts the request took
	HeaderUpstream = "X-Retrycoord-Upstream" // key of the upstream that answered
)

// AttemptsFromResponse returns the attempts and upstream key that
// Transport wrote into resp's headers, and false when they are absent.
func AttemptsFromResponse(resp *http.Response) (attempts int, upstream string, ok bool) {
	if resp == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(resp.Header.Get(HeaderAttempts))
	if err != nil {
		return 0, "", false
	}
	return n, resp.Header.Get(HeaderUpstream), true
}

// Transport returns an http.RoundTripper that sends each request through
// Do: every attempt goes through the chosen upstream with a clone of base
// (nil: http.DefaultTransport's settings) whose Proxy is the upstream's URL.
// Each upstream's clone is made once and cached, so connections to it are
// reused. http, https and socks5 upstreams are supported (net/http dials
// them). Request bodies up to MaxReplayBody are buffered so that they can
// be sent again (a request with GetBody is replayed through it); a larger
// body gets one attempt. The response carries HeaderAttempts and
// HeaderUpstream.
//
// When base has DisableCompression set (as the forward proxy's has) and
// none of DisableKeepAlives, ResponseHeaderTimeout, MaxConnsPerHost or Dial,
// a request that may be retried, has no body and goes to an http:// target
// through an http:// upstream is sent on keep-alive connections of the
// RoundTripper's own, in the caller's goroutine, with the same bytes on the
// wire as net/http's (Request.WriteProxy, http.ReadResponse), base's
// DialContext, MaxIdleConnsPerHost, IdleConnTimeout and
// MaxResponseHeaderBytes; net/http's Transport spends three goroutines on
// each request. Requests whose context carries httptrace hooks, and all
// others, go through base's clone.
//
// The RoundTripper is safe for concurrent use. Its CloseIdleConnections
// closes the idle connections of every cached clone.
func (c *Coordinator) Transport(base *http.Transport) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	return &roundTripper{c: c, base: base}
}

type roundTripper struct {
	c    *Coordinator
	base *http.Transport
	trs  sync.Map // *Upstream → *upstreamTransport
}

// upstreamTransport is how a roundTripper reaches one upstream: keep, with
// keep-alives, for requests that may be retried; fresh, without, for those
// that may not, until the upstream has shown that it keeps connections
// alive (a request answered on a reused connection) and as long as it
// shows no keep-alive race. A request that may not be retried must never
// be written into a connection the proxy is closing: some proxies
// (tinyproxy) close every connection after their answer without saying so.
type upstreamTransport struct {
	keep, fresh *http.Transport
	keepsAlive  atomic.Bool
	plain       *plainPool // bodiless http requests that may be retried; nil when base rules it out
}

// pick returns the transport for a request; once says it may not be
// retried once sent.
func (ut *upstreamTransport) pick(once bool) *http.Transport {
	if once && !ut.keepsAlive.Load() {
		return ut.fresh
	}
	return ut.keep
}

func (rt *roundTripper) transportFor(u *Upstream) *upstreamTransport {
	if t, ok := rt.trs.Load(u); ok {
		return t.(*upstreamTransport)
	}
	t := rt.base.Clone()
	t.Proxy = http.ProxyURL(u.url)
	if t.GetProxyConnectHeader == nil && t.ProxyConnectHeader.Get("User-Agent") == "" {
		// No "User-Agent: Go-http-client/1.1" on CONNECT either.
		t.ProxyConnectHeader = t.ProxyConnectHeader.Clone()
		if t.ProxyConnectHeader == nil {
			t.ProxyConnectHeader = http.Header{}
		}
		t.ProxyConnectHeader["User-Agent"] = []string{""}
	}
	next := t.OnProxyConnectResponse
	t.OnProxyConnectResponse = func(ctx context.Context, pu *url.URL, creq *http.Request, resp *http.Response) error {
		if next != nil {
			if err := next(ctx, pu, creq, resp); err != nil {
				return err
			}
		}
		if resp.StatusCode != http.StatusOK {
			// Keep what the proxy said, for the classifier (net/http would
			// keep only the status text).
			return &ConnectError{Proxy: u.key, StatusCode: resp.StatusCode, Header: resp.Header}
		}
		return nil
	}
	fresh := t.Clone()
	fresh.DisableKeepAlives = true
	ut := &upstreamTransport{keep: t, fresh: fresh, plain: newPlainPool(t, u.url)}
	if got, loaded := rt.trs.LoadOrStore(u, ut); loaded {
		return got.(*upstreamTransport)
	}
	return ut
}

// closeIdle closes ut's idle connections.
func (ut *upstreamTransport) closeIdle() {
	ut.keep.CloseIdleConnections()
	ut.fresh.CloseIdleConnections()
	if ut.plain != nil {
		ut.plain.closeIdle()
	}
}

// CloseIdleConnections closes idle connections of every upstream's clone.
func (rt *roundTripper) CloseIdleConnections() {
	rt.trs.Range(func(_, v any) bool {
		ut := v.(*upstreamTransport)
		ut.closeIdle()
		return true
	})
}

// RoundTrip implements http.RoundTripper.
func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkRequest(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	getBody, replayable, closeBody, err := rt.replayable(req)
	if err != nil {
		return nil, err
	}
	defer closeBody()
	if _, ok := req.Header["User-Agent"]; !ok {
		// The client sent none: send none either, rather than net/http's
		// "Go-http-client/1.1", which fingerprints a scraper.
		hdr := req.Header.Clone()
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr["User-Agent"] = []string{""}
		cp := *req
		cp.Header = hdr
		req = &cp
	}
	once := !replayable || !rt.c.mayRetry(req.Context(), req.Method)
	fn := func(ctx context.Context, u *Upstream) (*http.Response, error) {
		return rt.send(ctx, req, getBody, replayable, once, u)
	}
	res, err := rt.c.exec(req.Context(), req.Method, rt.c.SiteFor(req), replayable, fn)
	if err != nil {
		return nil, err
	}
	res.Response.Header.Set(HeaderAttempts, strconv.Itoa(res.Attempts))
	res.Response.Header.Set(HeaderUpstream, res.Upstream.Key())
	if res.BudgetExhausted {
		res.Response.Header.Set(HeaderBudget, "exhausted")
	}
	return res.Response, nil
}

// checkRequest rejects requests no upstream can send.
func checkRequest(req *http.Request) error {
	switch {
	case req.URL == nil:
		return Fatal(errors.New("coord: request without URL"))
	case req.URL.Scheme != "http" && req.URL.Scheme != "https":
		return Fatal(fmt.Errorf("coord: unsupported scheme %q", req.URL.Scheme))
	case req.URL.Host == "":
		return Fatal(errors.New("coord: request URL without host"))
	}
	return nil
}

// replayable prepares a request's body for several attempts: through
// GetBody when the request has it, else buffered up to MaxReplayBody. A
// larger body is sent once, from what was read followed by the rest.
func (rt *roundTripper) replayable(req *http.Request) (getBody func() (io.ReadCloser, error), ok bool, closeBody func(), err error) {
	body := req.Body
	closeBody = func() {}
	if body == nil || body == http.NoBody {
		return nil, true, closeBody, nil
	}
	closeBody = func() { _ = body.Close() }
	if req.GetBody != nil {
		return req.GetBody, true, closeBody, nil
	}
	limit := rt.c.maxBody
	if limit < 0 {
		limit = 0
	}
	buf, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		closeBody()
		// The client's body failed, not an upstream: no retry can mend it.
		return nil, false, nil, Fatal(fmt.Errorf("coord: reading request body: %w", err))
	}
	if int64(len(buf)) <= limit {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, true, closeBody, nil
	}
	once := false
	return func() (io.ReadCloser, error) {
		if once {
			return nil, errors.New("coord: request body already sent")
		}
		once = true
		return io.NopCloser(io.MultiReader(bytes.NewReader(buf), body)), nil
	}, false, closeBody, nil
}

// staleRetries bounds how often one attempt re-sends a request that found
// its reused connection closed (a keep-alive race) before the request
// left.
const staleRetries = 3

// send makes one attempt through upstream u. A keep-alive race (a reused
// connection the proxy had already closed, found so before the request was
// sent) is not the proxy's failure: the request is sent again at once, on
// a new connection, within the same attempt. An error after which nothing
// was sent is marked with NotSent, so that even a POST is retried.
// Requests that may be retried and have no body go through the upstream's
// plainPool when it has one, the others through http.Transport.
func (rt *roundTripper) send(ctx context.Context, req *http.Request, getBody func() (io.ReadCloser, error), replayable, once bool, u *Upstream) (*http.Response, error) {
	ut := rt.transportFor(u)
	plain := ut.plain != nil && !once && getBody == nil && plainEligible(ctx, req)
	for i := 0; ; i++ {
		var (
			tr   *sendTrace
			resp *http.Response
			err  error
		)
		var ptr sendTrace // the plain road's stays on the stack: no hook holds it
		if plain {
			tr = &ptr
			resp, err = ut.plain.roundTrip(ctx, req, tr)
		} else {
			var body io.ReadCloser
			if getBody != nil {
				if body, err = getBody(); err != nil {
					return nil, Fatal(fmt.Errorf("coord: request body: %w", err))
				}
			}
			ht := new(sendTrace)
			r := req.WithContext(ht.with(ctx))
			tr = ht
			if body != nil {
				r.Body = body
			}
			resp, err = ut.pick(once).RoundTrip(r)
		}
		if err == nil {
			if tr.reused.Load() {
				ut.keepsAlive.Store(true)
			}
			return resp, nil
		}
		if tr.reused.Load() {
			ut.keepsAlive.Store(false)
		}
		if ctx.Err() != nil || !tr.notSent(err) {
			return nil, err
		}
		if !tr.stale(err) || i == staleRetries || !replayable {
			return nil, NotSent(err)
		}
		// The proxy closes connections it has answered on: its other idle
		// ones are as likely stale.
		if plain {
			ut.plain.closeIdle()
		} else {
			ut.pick(once).CloseIdleConnections()
		}
	}
}
