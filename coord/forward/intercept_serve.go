package forward

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// serveIntercepted serves one request of an intercepted connection: it goes
// through the coordinator like an absolute-form request for
// https://<CONNECT target><path>, and the answer (or the proxy's own
// explanation) goes back on the client's TLS connection.
func (p *Proxy) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	ic, _ := r.Context().Value(interceptedKey{}).(*interceptedConn)
	if ic == nil {
		plain(w, http.StatusInternalServerError, "retrycoord: not an intercepted connection")
		return
	}
	if !p.mitm.enter() {
		plain(w, http.StatusServiceUnavailable, "retrycoord: the forward proxy is shutting down")
		return
	}
	defer p.mitm.handlers.Done()
	p.mitm.requests.Add(1)
	if r.Method == http.MethodConnect {
		p.bad.Add(1)
		plain(w, http.StatusMethodNotAllowed, "retrycoord: CONNECT inside an intercepted connection is not supported")
		return
	}
	// The request must be for the host the client asked a tunnel to (and
	// got a certificate for): RFC 9110 §15.5.20.
	if normalHost(hostOnly(r.Host)) != ic.host || (r.URL.IsAbs() && normalHost(r.URL.Hostname()) != ic.host) {
		p.bad.Add(1)
		plain(w, http.StatusMisdirectedRequest, "retrycoord: this connection is for "+ic.host+", not "+strconv.Quote(r.Host))
		return
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Scheme: "https", Host: ic.authority, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Close = false
	out.Trailer = nil
	removeHop(out.Header)
	addVia(out.Header, r.ProtoMajor, r.ProtoMinor)
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	resp, err := p.mitm.rt.RoundTrip(out)
	if err != nil {
		var sc *siteCertError
		if errors.As(err, &sc) && r.Context().Err() == nil {
			p.gaveUp.Add(1)
			plain(w, http.StatusBadGateway, "retrycoord: "+sc.Error())
			return
		}
		p.fail(w, r, err)
		return
	}
	p.relay(w, r, resp)
}

// hostOnly returns the host of a Host field value, without its port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
