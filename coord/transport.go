package coord

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
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
	trs  sync.Map // *Upstream → *http.Transport
}

func (rt *roundTripper) transportFor(u *Upstream) *http.Transport {
	if t, ok := rt.trs.Load(u); ok {
		return t.(*http.Transport)
	}
	t := rt.base.Clone()
	t.Proxy = http.ProxyURL(u.url)
	if got, loaded := rt.trs.LoadOrStore(u, t); loaded {
		return got.(*http.Transport)
	}
	return t
}

// CloseIdleConnections closes idle connections of every upstream's clone.
func (rt *roundTripper) CloseIdleConnections() {
	rt.trs.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
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
	fn := func(ctx context.Context, u *Upstream) (*http.Response, error) {
		r := req.WithContext(ctx)
		if getBody != nil {
			b, err := getBody()
			if err != nil {
				return nil, Fatal(fmt.Errorf("coord: request body: %w", err))
			}
			r.Body = b
		}
		return rt.transportFor(u).RoundTrip(r)
	}
	res, err := rt.c.exec(req.Context(), req.Method, replayable, fn)
	if err != nil {
		return nil, err
	}
	res.Response.Header.Set(HeaderAttempts, strconv.Itoa(res.Attempts))
	res.Response.Header.Set(HeaderUpstream, res.Upstream.Key())
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
