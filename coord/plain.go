package coord

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// plainPool carries the simplest and commonest request, one without a
// body sent in absolute form to an http:// upstream proxy, on keep-alive
// connections of its own, in the caller's goroutine: it writes the request
// (Request.WriteProxy), reads the answer (http.ReadResponse, the parser
// net/http's Transport uses) and hands the connection back when the body
// has been read to its end. http.Transport spends three goroutines and
// several hand-offs between them on each request; on a forward proxy that
// is most of what a request costs. Everything else (bodies, https targets,
// CONNECT, socks5, user httptrace hooks) goes through http.Transport. A
// plainPool is safe for concurrent use.
type plainPool struct {
	addr    string // the proxy's host:port
	auth    string // its Proxy-Authorization value; "" without credentials
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle int           // idle connections kept (MaxIdleConnsPerHost)
	idleTO  time.Duration // an idle connection is closed after it (0: never)
	maxHead int64         // bound on an answer's header (MaxResponseHeaderBytes)
	rbuf    int           // read buffer size
	wbuf    int           // write buffer size

	mu   sync.Mutex // guards idle
	idle []*plainConn
}

// newPlainPool returns the pool for upstream u over base, or nil when base
// asks for something only http.Transport does: compression (it adds
// Accept-Encoding and decompresses), no keep-alives, a response header
// timeout, a bound on connections per host, or the deprecated Dial.
func newPlainPool(base *http.Transport, u *url.URL) *plainPool {
	//lint:ignore SA1019 checked, not used: only http.Transport dials through it
	legacyDial := base.Dial != nil
	if u.Scheme != "http" || base.DisableKeepAlives || !base.DisableCompression ||
		base.ResponseHeaderTimeout > 0 || base.MaxConnsPerHost > 0 || legacyDial {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	p := &plainPool{
		addr:    net.JoinHostPort(u.Hostname(), port),
		dial:    base.DialContext,
		maxIdle: cmp.Or(base.MaxIdleConnsPerHost, http.DefaultMaxIdleConnsPerHost),
		idleTO:  base.IdleConnTimeout,
		maxHead: cmp.Or(base.MaxResponseHeaderBytes, 10<<20),
		rbuf:    cmp.Or(base.ReadBufferSize, 4<<10),
		wbuf:    cmp.Or(base.WriteBufferSize, 4<<10),
	}
	if p.maxIdle < 0 {
		p.maxIdle = 0
	}
	if p.dial == nil {
		var d net.Dialer
		p.dial = d.DialContext
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
	}
	return p
}

// plainEligible reports whether the pool may carry req under ctx: an http
// target, no body, no protocol upgrade, neither httptrace hooks of the
// caller's nor the deprecated Request.Cancel (the pool would not heed
// them), and a method and header that http.Transport would send (it
// rejects the others with an error of its own; Request.WriteProxy does not
// check them).
func plainEligible(ctx context.Context, req *http.Request) bool {
	//lint:ignore SA1019 checked, not used: only http.Transport heeds it
	legacyCancel := req.Cancel != nil
	if req.URL.Scheme != "http" || (req.Body != nil && req.Body != http.NoBody) || legacyCancel ||
		len(req.TransferEncoding) > 0 || len(req.Header["Upgrade"]) > 0 ||
		(req.Method != "" && !httpguts.ValidHeaderFieldName(req.Method)) || httptrace.ContextClientTrace(ctx) != nil {
		return false
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// plainConn is one connection of a plainPool.
type plainConn struct {
	pool   *plainPool
	conn   net.Conn
	lr     io.LimitedReader // conn, bounded while an answer's header is read
	br     *bufio.Reader    // over lr
	bw     *bufio.Writer
	reused bool        // it carried a request before
	timer  *time.Timer // closes it once idle for idleTO; nil without
	abort  func()      // fails its pending I/O at once (made once: a request's context calls it)
}

// errServerClosedIdle is the keep-alive race: a reused connection that the
// proxy had closed, found so before any byte of an answer came. The text
// is net/http's for the same case, which isServerClosedIdle matches.
var errServerClosedIdle = errors.New("coord: http: server closed idle connection")

// roundTrip sends req through the proxy and returns its answer, noting in
// tr what reached the wire. ctx bounds the whole exchange, body included:
// when it ends, the connection's deadline is moved to the past, which
// unblocks any read or write on it. The body's Close hands the connection back to the pool when
// the body was read to its end and both sides keep the connection alive;
// otherwise it closes it.
func (p *plainPool) roundTrip(ctx context.Context, req *http.Request, tr *sendTrace) (*http.Response, error) {
	pc, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	tr.gotConn.Store(true)
	tr.reused.Store(pc.reused)
	stop := context.AfterFunc(ctx, pc.abort)
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("coord: %w", ctx.Err())
		}
		return nil, err
	}
	if err := pc.write(req); err != nil {
		return fail(err)
	}
	tr.wroteHeaders.Store(true)
	if _, err := pc.br.Peek(1); err != nil {
		if pc.reused && ctx.Err() == nil {
			return fail(errServerClosedIdle)
		}
		return fail(err)
	}
	resp, err := pc.readResponse(req)
	if err != nil {
		return fail(err)
	}
	keep := !resp.Close && !req.Close && !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "close") &&
		(resp.Body == http.NoBody || resp.ContentLength >= 0 || chunked(resp))
	if resp.Body == http.NoBody {
		// Nothing more will come: the connection is free now.
		pc.release(keep, stop)
		return resp, nil
	}
	resp.Body = &plainBody{pc: pc, body: resp.Body, keep: keep, stop: stop}
	return resp, nil
}

// chunked reports whether resp's body is framed by chunked encoding.
func chunked(resp *http.Response) bool {
	return len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
}

// aLongTimeAgo is a deadline in the past, which fails pending I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// write writes req in absolute form with this pool's Proxy-Authorization,
// and flushes it.
func (pc *plainConn) write(req *http.Request) error {
	if pc.pool.auth != "" {
		cp := *req
		cp.Header = req.Header.Clone()
		if cp.Header == nil {
			cp.Header = http.Header{}
		}
		cp.Header["Proxy-Authorization"] = []string{pc.pool.auth}
		req = &cp
	}
	if err := req.WriteProxy(pc.bw); err != nil {
		return err
	}
	return pc.bw.Flush()
}

// maxInformational bounds the 1xx answers skipped before the final one.
const maxInformational = 5

// readResponse reads the final answer to req, skipping 1xx ones (101 is
// refused: the pool never asks for an upgrade), with the header bounded by
// maxHead.
func (pc *plainConn) readResponse(req *http.Request) (*http.Response, error) {
	for range maxInformational + 1 {
		pc.lr.N = pc.pool.maxHead
		resp, err := http.ReadResponse(pc.br, req)
		pc.lr.N = 1<<63 - 1
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("coord: upstream switched protocols unasked")
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			continue
		}
		return resp, nil
	}
	return nil, errors.New("coord: too many 1xx answers")
}

// get returns an idle connection, or dials a new one.
func (p *plainPool) get(ctx context.Context) (*plainConn, error) {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if pc.timer != nil && !pc.timer.Stop() {
			continue // its idle time ran out: expire closes it
		}
		p.mu.Unlock()
		return pc, nil
	}
	p.mu.Unlock()
	c, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		// As http.Transport says it: the proxy could not be reached.
		return nil, &net.OpError{Op: "proxyconnect", Net: "tcp", Err: err}
	}
	pc := &plainConn{pool: p, conn: c}
	pc.lr = io.LimitedReader{R: c, N: 1<<63 - 1}
	pc.br = bufio.NewReaderSize(&pc.lr, p.rbuf)
	pc.bw = bufio.NewWriterSize(c, p.wbuf)
	pc.abort = func() { _ = c.SetDeadline(aLongTimeAgo) }
	return pc, nil
}

// release hands pc back to the pool when keep holds, nothing more is
// buffered, and ctx's hook did not fire (stop reports it); else it closes
// pc.
func (pc *plainConn) release(keep bool, stop func() bool) {
	if !stop() || !keep || pc.br.Buffered() > 0 {
		_ = pc.conn.Close()
		return
	}
	p := pc.pool
	pc.reused = true
	p.mu.Lock()
	if len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		_ = pc.conn.Close()
		return
	}
	if p.idleTO > 0 {
		if pc.timer == nil {
			pc.timer = time.AfterFunc(p.idleTO, pc.expire)
		} else {
			pc.timer.Reset(p.idleTO)
		}
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// expire closes pc when it is still idle.
func (pc *plainConn) expire() {
	p := pc.pool
	p.mu.Lock()
	for i, c := range p.idle {
		if c == pc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	_ = pc.conn.Close()
}

// closeIdle closes every idle connection.
func (p *plainPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		if pc.timer != nil {
			pc.timer.Stop()
		}
		_ = pc.conn.Close()
	}
}

// plainBody is an answer's body on a plainConn: read to its end, it hands
// the connection back (or closes it); closed before, it closes the
// connection, as what is left of the body would have to be read first.
// Read and Close may be called concurrently.
type plainBody struct {
	pc   *plainConn
	body io.ReadCloser
	keep bool
	stop func() bool

	mu   sync.Mutex // guards done
	done bool
}

func (b *plainBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
	return n, err
}

// Close closes the body; before its end, the connection too.
func (b *plainBody) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection once: back to the pool when the body
// ended (eof) and the connection may be kept, else closed.
func (b *plainBody) finish(eof bool) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	b.mu.Unlock()
	if eof {
		b.pc.release(b.keep, b.stop)
		return
	}
	b.stop()
	_ = b.pc.conn.Close()
}
