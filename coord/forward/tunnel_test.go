package forward

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeConnectProxy is an upstream proxy over raw TCP: it reads one
// CONNECT and hands the connection, with its reader (which may hold bytes
// the client sent past the request), to serve. It is closed by t.Cleanup.
func fakeConnectProxy(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				if req, err := http.ReadRequest(br); err != nil || req.Method != http.MethodConnect {
					return
				}
				serve(c, br)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readDeadline bounds what a tunnel test waits to read: it comes at once
// or never, and never should fail the test rather than hang it (not a
// timing).
func readDeadline(c net.Conn) { _ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) }

// TestTunnelKeepsBytesPastTheAnswers: bytes that came with an answer are
// the tunnel's first: what the upstream sent right after its 200 (a
// server that speaks first) reaches the client, and what the client sent
// right after its CONNECT reaches the upstream.
func TestTunnelKeepsBytesPastTheAnswers(t *testing.T) {
	up := fakeConnectProxy(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\nBANNER\n"); err != nil {
			return
		}
		_, _ = io.Copy(c, br) // echo
	})
	_, purl := serve(t, Config{Coordinator: newCoord(t, up)})
	resp, conn, br := openTunnel(t, purl, "mail.test:25", "", "EARLY\n")
	readDeadline(conn)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT answered %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{"BANNER\n", "EARLY\n"} {
		if got, err := br.ReadString('\n'); got != want {
			t.Fatalf("read %q (%v) through the tunnel, want %q", got, err, want)
		}
	}
}

// TestTunnelHalfClose: a client that has sent everything closes its
// writing side; the upstream sees the end and can still answer, and the
// client reads that answer before the tunnel closes.
func TestTunnelHalfClose(t *testing.T) {
	up := fakeConnectProxy(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			return
		}
		got, _ := io.ReadAll(br) // until the client's half-close arrives
		_, _ = io.WriteString(c, "got: "+string(got)+"\n")
	})
	_, purl := serve(t, Config{Coordinator: newCoord(t, up)})
	resp, conn, br := openTunnel(t, purl, "files.test:443", "", "")
	readDeadline(conn)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT answered %d, want 200", resp.StatusCode)
	}
	if _, err := io.WriteString(conn, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); string(rest) != "got: hello\n" {
		t.Fatalf("after the half-close the client read %q (%v), want \"got: hello\\n\"", rest, err)
	}
}

// TestConnectGarbageAnswerIs502: an upstream that answers CONNECT with
// something that is not HTTP fails the attempt; once every attempt has,
// the client gets a 502 that says so and why.
func TestConnectGarbageAnswerIs502(t *testing.T) {
	up := fakeConnectProxy(t, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
	})
	_, purl := serve(t, Config{Coordinator: newCoord(t, up)})
	resp, _, _ := openTunnel(t, purl, "example.test:443", "", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "gave up") ||
		!strings.Contains(string(body), "malformed HTTP") {
		t.Fatalf("got %d %q, want 502 saying it gave up, and why", resp.StatusCode, body)
	}
}
