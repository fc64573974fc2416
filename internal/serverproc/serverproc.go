package serverproc

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: the
// kernel picked it for a listener that is closed again before returning.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Exited reports, without blocking, whether the started cmd has exited (and
// reaps it if so). It also reports true when cmd can no longer be waited for.
func Exited(cmd *exec.Cmd) bool {
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil)
	return err != nil || pid == cmd.Process.Pid
}

// Tail returns the last n bytes of a server's output, trimmed of white
// space, for an error message.
func Tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
