package forward

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// tunnel is a spliced client and upstream connection pair.
type tunnel struct {
	client, upstream net.Conn
	once             sync.Once
}

// close closes both connections; it is idempotent.
func (t *tunnel) close() {
	t.once.Do(func() {
		_ = t.client.Close()
		_ = t.upstream.Close()
	})
}

// splice copies bytes both ways between the hijacked client connection and
// the upstream tunnel until both directions end. A direction that reaches
// EOF half-closes its destination (CloseWrite); an error on either, or a
// connection that cannot half-close, closes both. cbr and ubr may hold
// bytes already read from either side. It returns when the tunnel is gone.
func (p *Proxy) splice(client net.Conn, cbr *bufio.Reader, upstream net.Conn, ubr *bufio.Reader) {
	t := &tunnel{client: client, upstream: upstream}
	p.tunnelMu.Lock()
	if p.closed {
		p.tunnelMu.Unlock()
		t.close()
		return
	}
	p.tunnels[t] = struct{}{}
	p.wg.Add(2)
	p.tunnelMu.Unlock()
	p.active.Add(1)
	defer func() {
		t.close()
		p.tunnelMu.Lock()
		delete(p.tunnels, t)
		p.tunnelMu.Unlock()
		p.active.Add(-1)
		p.wg.Done()
	}()
	done := make(chan struct{})
	go func() {
		defer p.wg.Done()
		defer close(done)
		pipe(t, upstream, client, cbr)
	}()
	pipe(t, client, upstream, ubr)
	<-done
}

// pipe copies src (after what br holds) to dst, then half-closes dst, or
// closes the whole tunnel on an error.
func pipe(t *tunnel, dst, src net.Conn, br *bufio.Reader) {
	if br != nil {
		if n := br.Buffered(); n > 0 {
			b, _ := br.Peek(n)
			if _, err := dst.Write(b); err != nil {
				t.close()
				return
			}
			_, _ = br.Discard(n)
		}
	}
	// src itself from here on, so that TCP to TCP can use splice(2).
	if _, err := io.Copy(dst, src); err != nil {
		t.close()
		return
	}
	cw, ok := dst.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		t.close()
	}
}
