package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/serverproc"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process on a fixed loopback port. It can be
// stopped and started again on the same port, empty (persistence is off).
type Server struct {
	port  int
	dir   string
	extra []string
	cmd   *exec.Cmd // nil while stopped
	runs  int
}

// Start starts a standalone redis-server on a free 127.0.0.1 port and waits
// until it answers PING. The process is killed when the test ends. The test
// is skipped when redis-server is not installed (make test installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

func start(t testing.TB, extra []string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redistest: redis-server not installed (run scripts/ensure-test-deps.sh)")
	}
	var lastErr error
	for range 3 { // a free port may be taken between probing and binding
		port, err := serverproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{port: port, dir: t.TempDir(), extra: extra}
		t.Cleanup(func() { s.kill(syscall.SIGKILL) })
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// PID returns the running process's id, or 0 while stopped.
func (s *Server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop ends the server with SIGTERM and waits for it to exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.kill(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill(syscall.SIGKILL)
}

// Start starts a stopped server again on the same port and waits until it
// answers PING. It holds no data from before.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatalf("redistest: server on %s is already running", s.Addr())
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.launch()
		if err == nil {
			return
		}
		if time.Now().After(deadline) { // the old socket may linger briefly
			t.Fatalf("redistest: restart: %v", err)
		}
	}
}

func (s *Server) launch() error {
	s.runs++
	dir := filepath.Join(s.dir, "run"+strconv.Itoa(s.runs))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
	}, s.extra...)
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(startTimeout)
	for {
		if reply, err := Do(s.Addr(), "PING"); err == nil && reply == "PONG" {
			return nil
		}
		if serverproc.Exited(cmd) || time.Now().After(deadline) {
			s.kill(syscall.SIGKILL)
			out, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d did not answer PING: %s", s.port, serverproc.Tail(out, 500))
		}
		time.Sleep(10 * time.Millisecond) // polling a process that has no readiness signal
	}
}

// kill signals the process by PID and reaps it. It is a no-op while stopped.
func (s *Server) kill(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(s.cmd.Process.Pid, sig)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Do sends one command to addr over a fresh connection and returns a simple
// or bulk string reply (integers as decimal text). It is the helper's own
// tiny client, so that starting servers needs no Redis library.
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("nil or bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}
