package realproxy

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// DanteUser and DantePassword are the system user that
// scripts/ensure-test-deps.sh creates (root only, no home, no login shell)
// for dante's username method, which checks system users' passwords. They
// are throwaway test credentials.
const (
	DanteUser     = "retrycoord-test"
	DantePassword = "rc-dante-test-pw"
)

// DanteConfig configures a Dante. The zero DanteConfig accepts SOCKS5
// clients without authentication.
type DanteConfig struct {
	// Auth requires the username method: clients must send DanteUser and
	// DantePassword. It needs root (dante reads /etc/shadow) and the user
	// that scripts/ensure-test-deps.sh creates; the test fails otherwise.
	Auth bool
}

// Dante starts Debian's danted (SOCKS5) in the foreground with one
// process (-N 1) on a free loopback port, its configuration and PID file in
// a temp dir. It is killed, with its children, when the test ends.
func Dante(t testing.TB, cfg DanteConfig) *Proxy {
	t.Helper()
	if cfg.Auth {
		if os.Geteuid() != 0 {
			t.Fatalf("realproxy: dante's username method checks system passwords and needs root")
		}
		if _, err := user.Lookup(DanteUser); err != nil {
			t.Fatalf("realproxy: system user %q is missing (dante's username method needs it): run scripts/ensure-test-deps.sh as root", DanteUser)
		}
	}
	return start(t, spec{
		name: "danted", paths: []string{"/usr/sbin/danted"}, pkg: "dante-server", scheme: "socks5",
		config: func(dir string, port int) (string, error) {
			method := "none"
			if cfg.Auth {
				method = "username"
			}
			c := "logoutput: stderr\n" +
				"internal: 127.0.0.1 port = " + strconv.Itoa(port) + "\n" +
				"external: 127.0.0.1\n" +
				"clientmethod: none\n" +
				"socksmethod: " + method + "\n"
			if os.Geteuid() == 0 {
				c += "user.privileged: root\nuser.unprivileged: nobody\n"
			}
			c += "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n" +
				"socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }\n"
			conf := filepath.Join(dir, "danted.conf")
			return conf, writeFile(conf, c)
		},
		args: func(dir, conf string) []string {
			return []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid"), "-N", "1"}
		},
	})
}
