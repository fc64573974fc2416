package forward

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// socksServer is a minimal SOCKS5 proxy (RFC 1928, CONNECT only, optional
// RFC 1929 user/password) on loopback, closed by t.Cleanup.
type socksServer struct {
	ln         net.Listener
	user, pass string
	wg         sync.WaitGroup
	mu         sync.Mutex // guards conns
	conns      map[net.Conn]struct{}
}

func newSOCKS(t *testing.T, user, pass string) *socksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, user: user, pass: pass, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.track(c, false)
				s.handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *socksServer) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
		return
	}
	_ = c.Close()
	delete(s.conns, c)
}

func (s *socksServer) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 262)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	if s.user == "" {
		_, _ = c.Write([]byte{5, 0})
	} else {
		_, _ = c.Write([]byte{5, 2})
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return
		}
		user := make([]byte, buf[1])
		if _, err := io.ReadFull(c, user); err != nil {
			return
		}
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return
		}
		pass := make([]byte, buf[0])
		if _, err := io.ReadFull(c, pass); err != nil {
			return
		}
		if string(user) != s.user || string(pass) != s.pass {
			_, _ = c.Write([]byte{1, 1})
			return
		}
		_, _ = c.Write([]byte{1, 0})
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
		return
	}
	var host string
	switch buf[3] {
	case 1:
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return
		}
		host = net.IP(buf[:4]).String()
	case 3:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return
		}
		n := int(buf[0])
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		host = string(buf[:n])
	default:
		return
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return
	}
	port := binary.BigEndian.Uint16(buf[:2])
	dst, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))), 5*time.Second)
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	s.track(dst, true)
	defer s.track(dst, false)
	_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	_ = c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(dst, c)
		_ = dst.Close()
	}()
	_, _ = io.Copy(c, dst)
	_ = c.Close()
	<-done
}

func TestConnectSOCKS5(t *testing.T) {
	origin := testproxy.NewTLSOrigin(t)
	s := newSOCKS(t, "sock", "pw-socks")
	bad := newSOCKS(t, "sock", "other")
	good := "socks5://sock:pw-socks@" + s.ln.Addr().String()
	wrong := "socks5://sock:pw-socks@" + bad.ln.Addr().String() // refused: wrong password there
	p, purl := serve(t, Config{Coordinator: newCoord(t, wrong, good)})
	cl := client(t, purl, originTLS(origin), false)
	for i := range 2 {
		resp, body := get(t, cl, origin.URL)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, body)
		}
	}
	if got := p.Stats().Tunnels; got != 2 {
		t.Errorf("Tunnels = %d, want 2", got)
	}
}
