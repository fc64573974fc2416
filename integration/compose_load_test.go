//go:build compose

package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// load is traffic through some nodes' forward proxies to the origin, from
// a few workers per node, until stop.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	ok     map[string]int
	failed map[string]int
	errs   []string // the first few failures
}

// startLoad starts workers per node, each sending GETs in a loop.
func (s *stack) startLoad(t testing.TB, workers int, services ...string) *load {
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	l := &load{cancel: cancel, ok: map[string]int{}, failed: map[string]int{}}
	for _, svc := range services {
		hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(s.proxyURL(t, svc)), DisableKeepAlives: true}}
		for w := range workers {
			l.wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					err := get(ctx, hc, fmt.Sprintf("%s/load/%s/%d/%d", originURL, svc, w, i))
					if ctx.Err() != nil {
						return // stopping: not the fleet's failure
					}
					l.note(svc, err)
				}
			})
		}
	}
	return l
}

func (l *load) note(svc string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.ok[svc]++
		return
	}
	l.failed[svc]++
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), svc, err))
	}
}

// stop ends the traffic and waits for the workers.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// counts returns the successes and failures so far, by node.
func (l *load) counts() (ok, failed map[string]int, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, failed = map[string]int{}, map[string]int{}
	for k, v := range l.ok {
		ok[k] = v
	}
	for k, v := range l.failed {
		failed[k] = v
	}
	return ok, failed, append([]string(nil), l.errs...)
}

// get sends one GET and wants 200 "origin ok".
func get(ctx context.Context, hc *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("origin ok")) {
		return fmt.Errorf("%s: %s (upstream %s, attempts %s)", resp.Status, bytes.TrimSpace(body),
			resp.Header.Get("X-Retrycoord-Upstream"), resp.Header.Get("X-Retrycoord-Attempts"))
	}
	return nil
}

// connectGet opens a CONNECT tunnel through the forward proxy at proxy to
// the origin and sends a plain HTTP GET inside it. It returns the attempts
// the proxy needed to establish the tunnel.
func connectGet(ctx context.Context, proxy, path string) (attempts string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	target := strings.TrimPrefix(originURL, "http://")
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return "", fmt.Errorf("CONNECT: %w", err)
	}
	attempts = resp.Header.Get("X-Retrycoord-Attempts")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return attempts, fmt.Errorf("CONNECT: %s: %s (upstream %s, attempts %s)", resp.Status, bytes.TrimSpace(b), resp.Header.Get("X-Retrycoord-Upstream"), attempts)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, target)
	inner, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return attempts, fmt.Errorf("GET in the tunnel: %w", err)
	}
	defer inner.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(inner.Body, 4<<10))
	if inner.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("origin ok")) {
		return attempts, fmt.Errorf("GET in the tunnel: %s: %s", inner.Status, bytes.TrimSpace(body))
	}
	return attempts, nil
}
