package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"golang.org/x/net/proxy"
)

// connect establishes a tunnel to r.Host through an upstream proxy, with
// the coordinator's retries and failover, then splices the client to it.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	host, port, err := net.SplitHostPort(target)
	if err != nil || host == "" || port == "" {
		p.bad.Add(1)
		plain(w, http.StatusBadRequest, "retrycoord: CONNECT needs a host:port target, got "+strconv.Quote(target))
		return
	}
	if p.mitm != nil && p.mitm.covers(normalHost(host)) {
		p.intercept(w, normalHost(host), port) // intercept.go
		return
	}
	var est *upstreamConn // the tunnel of the last attempt answered 200
	// The tunnel counts against the CONNECT target's site.
	ctx := coord.WithSite(r.Context(), p.c.SiteFor(r))
	res, err := p.c.Do(ctx, func(ctx context.Context, u *coord.Upstream) (*http.Response, error) {
		resp, uc, err := p.dialTunnel(ctx, u, target)
		if uc != nil {
			est = uc
		}
		return resp, err
	})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	resp := res.Response
	h := w.Header()
	h.Set(coord.HeaderAttempts, strconv.Itoa(res.Attempts))
	h.Set(coord.HeaderUpstream, res.Upstream.Key())
	if resp.StatusCode != http.StatusOK || est == nil || est.closed.Load() {
		// The upstream's refusal is the client's answer (a status the
		// classifier leaves to the caller, such as 404 or 500).
		defer resp.Body.Close()
		removeHop(resp.Header)
		for k, vs := range resp.Header {
			h[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<10))
		return
	}
	est.detached.Store(true)
	_ = resp.Body.Close() // releases the coordinator's attempt context; the connection stays
	cc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = est.conn.Close()
		p.gaveUp.Add(1)
		plain(w, http.StatusInternalServerError, "retrycoord: cannot take over the client connection for CONNECT")
		return
	}
	_ = cc.SetDeadline(time.Time{})
	head := "HTTP/1.1 200 Connection established\r\n" +
		coord.HeaderAttempts + ": " + strconv.Itoa(res.Attempts) + "\r\n" +
		coord.HeaderUpstream + ": " + res.Upstream.Key() + "\r\n\r\n"
	if _, err := io.WriteString(cc, head); err != nil {
		_ = cc.Close()
		_ = est.conn.Close()
		p.canceled.Add(1)
		return
	}
	p.tunnelsTotal.Add(1)
	p.splice(cc, brw.Reader, est.conn, est.br)
}

// upstreamConn is an established tunnel through an upstream proxy, handed
// to coord.Do as a 200 response's body. Its Read returns io.EOF at once
// (nothing may read the tunnel before the splice), and Close closes the
// connection unless the tunnel was taken over (detached).
type upstreamConn struct {
	conn     net.Conn
	br       *bufio.Reader // may hold bytes read past the upstream's answer
	detached atomic.Bool
	closed   atomic.Bool
}

func (c *upstreamConn) Read([]byte) (int, error) { return 0, io.EOF }

func (c *upstreamConn) Close() error {
	if c.detached.Load() || c.closed.Swap(true) {
		return nil
	}
	return c.conn.Close()
}

// connBody closes the upstream connection with a refusal's body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *connBody) Close() error {
	err := b.ReadCloser.Close()
	_ = b.conn.Close()
	return err
}

var aLongTimeAgo = time.Unix(1, 0)

// dialTunnel asks upstream u for a tunnel to target. On 200 it returns a
// synthetic response whose body is the tunnel (also returned as uc); on
// another status the upstream's response, for the classifier to judge.
func (p *Proxy) dialTunnel(ctx context.Context, u *coord.Upstream, target string) (resp *http.Response, uc *upstreamConn, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.connectTO)
	defer cancel()
	pu := u.URL()
	if pu.Scheme == "socks5" {
		return p.dialSOCKS(ctx, pu, target)
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return nil, nil, fmt.Errorf("forward: upstream %s: scheme %q not supported for CONNECT", u.Key(), pu.Scheme)
	}
	d := net.Dialer{Timeout: p.dialTO, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	defer func() {
		if !stop() && err == nil { // ctx ended while we were talking
			err = ctx.Err()
		}
		if err != nil {
			if resp != nil {
				_ = resp.Body.Close()
				resp = nil
			}
			uc = nil
			_ = conn.Close()
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			}
		}
	}()
	if pu.Scheme == "https" {
		tc := tls.Client(conn, p.tlsConfig(pu.Hostname()))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("forward: TLS to upstream %s: %w", u.Key(), err)
		}
		conn = tc
	}
	msg := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if pu.User != nil {
		pw, _ := pu.User.Password()
		msg += "Proxy-Authorization: " + basicAuth(pu.User.Username(), pw) + "\r\n"
	}
	if _, err := io.WriteString(conn, msg+"\r\n"); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body = &connBody{ReadCloser: resp.Body, conn: conn}
		return resp, nil, nil
	}
	// RFC 9110 §9.3.6: a 2xx answer to CONNECT has no body; the tunnel
	// starts right after its header, and the client ignores any
	// Transfer-Encoding or Content-Length it carries. So the body is never
	// read or closed (closing it would wait for a chunked body the proxy
	// never sends, or eat the tunnel's first bytes).
	resp.Body = http.NoBody
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	uc = &upstreamConn{conn: conn, br: br}
	return established(resp.Header, uc), uc, nil
}

func established(h http.Header, uc *upstreamConn) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status: "200 Connection established", StatusCode: http.StatusOK,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: uc, ContentLength: -1,
	}
}

// dialSOCKS opens a tunnel to target through a socks5 upstream.
func (p *Proxy) dialSOCKS(ctx context.Context, pu *url.URL, target string) (*http.Response, *upstreamConn, error) {
	var auth *proxy.Auth
	if pu.User != nil {
		pw, _ := pu.User.Password()
		auth = &proxy.Auth{User: pu.User.Username(), Password: pw}
	}
	d, err := proxy.SOCKS5("tcp", pu.Host, auth, &net.Dialer{Timeout: p.dialTO, KeepAlive: 30 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("forward: socks5 upstream: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, nil, errors.New("forward: socks5 dialer cannot take a context")
	}
	conn, err := cd.DialContext(ctx, "tcp", target)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, cerr
		}
		return nil, nil, err
	}
	uc := &upstreamConn{conn: conn}
	return established(nil, uc), uc, nil
}

// tlsConfig is the TLS configuration for an https upstream proxy: Base's,
// if any, for that server name, speaking HTTP/1.1.
func (p *Proxy) tlsConfig(serverName string) *tls.Config {
	var cfg *tls.Config
	if p.base.TLSClientConfig != nil {
		cfg = p.base.TLSClientConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}
