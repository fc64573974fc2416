package realproxy

import (
	"path/filepath"
	"strconv"
	"testing"
)

// Tinyproxy starts Debian's tinyproxy in the foreground (-d) on a free
// loopback port, allowing loopback clients and CONNECT to any port, with
// its configuration and PID file in a temp dir. It is killed when the test
// ends.
//
// tinyproxy closes the client connection after every answer without
// saying "Connection: close", which is what makes it a good test of
// keep-alive races.
func Tinyproxy(t testing.TB) *Proxy {
	t.Helper()
	return start(t, spec{
		name: "tinyproxy", paths: []string{"/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"}, pkg: "tinyproxy", scheme: "http",
		config: func(dir string, port int) (string, error) {
			conf := filepath.Join(dir, "tinyproxy.conf")
			return conf, writeFile(conf, "Port "+strconv.Itoa(port)+"\n"+
				"Listen 127.0.0.1\n"+
				"Timeout 30\n"+
				"MaxClients 64\n"+
				"Allow 127.0.0.1\n"+
				"LogLevel Warning\n"+
				"PidFile \""+filepath.Join(dir, "tinyproxy.pid")+"\"\n")
		},
		args: func(dir, conf string) []string { return []string{"-d", "-c", conf} },
	})
}
