package realproxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/serverproc"
)

// startTimeout bounds how long a proxy may take to accept connections.
const startTimeout = 15 * time.Second

// Proxy is one running proxy server process. Its accessors are safe for
// concurrent use.
type Proxy struct {
	name   string // "squid", "tinyproxy", "danted"
	scheme string // "http" or "socks5"
	addr   string // 127.0.0.1:port
	dir    string
	log    string // the file its output goes to

	cleanup func(dir string) // optional, after the process is gone

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd  // nil once killed
}

// Name returns the server's program name, e.g. "squid".
func (p *Proxy) Name() string { return p.name }

// Addr returns "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.addr }

// URL returns the proxy's URL without credentials, e.g.
// "http://127.0.0.1:port" or "socks5://127.0.0.1:port".
func (p *Proxy) URL() string { return p.scheme + "://" + p.addr }

// URLWith returns the proxy's URL with user and password in it.
func (p *Proxy) URLWith(user, password string) string {
	return p.scheme + "://" + user + ":" + password + "@" + p.addr
}

// Dir returns the proxy's temp dir (configuration, logs, PID file).
func (p *Proxy) Dir() string { return p.dir }

// PID returns the server's process id, or 0 once it was killed.
func (p *Proxy) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Log returns the last part of the server's own log output, for failure
// messages.
func (p *Proxy) Log() string {
	var all []byte
	files, _ := filepath.Glob(filepath.Join(p.dir, "*.log"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); len(b) > 0 {
			all = append(append(all, filepath.Base(f)+": "...), b...)
		}
	}
	return serverproc.Tail(all, 800)
}

// Kill ends the server and every process of its group with SIGKILL, as a
// crash would, and waits for it. It is idempotent.
func (p *Proxy) Kill(t testing.TB) {
	t.Helper()
	p.kill()
}

func (p *Proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the group: the server's helpers and children
	_ = p.cmd.Wait()
	p.cmd = nil
	if p.cleanup != nil {
		p.cleanup(p.dir)
	}
}

// spec says how to start one kind of server.
type spec struct {
	name    string   // for messages
	paths   []string // where Debian puts the binary; PATH is searched too
	pkg     string   // the Debian package that has it
	scheme  string
	config  func(dir string, port int) (file string, err error)
	args    func(dir, conf string) []string
	prepare func(dir string) error // optional, before config
	cleanup func(dir string)       // optional, after the process is gone
}

// start finds the binary (failing the test when it is missing), then
// starts the server on a free port, retrying when the port was taken in
// between.
func start(t testing.TB, s spec) *Proxy {
	t.Helper()
	bin, err := find(s.paths)
	if err != nil {
		t.Fatalf("realproxy: %s is not installed (Debian package %s): run scripts/ensure-test-deps.sh (make test does)", s.name, s.pkg)
	}
	var lastErr error
	for try := range 3 { // a free port may be taken between probing and binding
		dir := t.TempDir()
		if s.prepare != nil {
			if err := s.prepare(dir); err != nil {
				t.Fatalf("realproxy: %s: %v", s.name, err)
			}
		}
		port, err := serverproc.FreePort()
		if err != nil {
			t.Fatalf("realproxy: %v", err)
		}
		conf, err := s.config(dir, port)
		if err != nil {
			t.Fatalf("realproxy: %s config: %v", s.name, err)
		}
		p := &Proxy{name: s.name, scheme: s.scheme, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir,
			log: filepath.Join(dir, "output.log"), cleanup: s.cleanup}
		if lastErr = p.launch(bin, s.args(dir, conf)); lastErr == nil {
			t.Cleanup(p.kill)
			return p
		}
		lastErr = fmt.Errorf("try %d: %w", try+1, lastErr)
	}
	t.Fatalf("realproxy: %s: %v", s.name, lastErr)
	return nil
}

func (p *Proxy) launch(bin string, args []string) error {
	out, err := os.Create(p.log)
	if err != nil {
		return err
	}
	defer out.Close()    // the child has its own copy
	_ = out.Chmod(0o666) // squid writes it after dropping root
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if serverproc.Exited(cmd) || time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("%s did not accept connections on %s: %s", p.name, p.addr, p.Log())
		}
		time.Sleep(10 * time.Millisecond) // polling a process that has no readiness signal
	}
}

func find(paths []string) (string, error) {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(filepath.Base(paths[0]))
}

// writeFile writes a file readable by a server that dropped root.
func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}
