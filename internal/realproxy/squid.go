package realproxy

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// SquidConfig configures a Squid. The zero SquidConfig is an open proxy for
// loopback clients.
type SquidConfig struct {
	// Users, when not empty, turns on Basic proxy authentication through
	// Debian's basic_ncsa_auth helper with these users and passwords; a
	// request without them gets squid's own 407.
	Users map[string]string
}

// squidPaths are where Debian's squid package puts its binary and the
// basic_ncsa_auth helper.
var (
	squidPaths   = []string{"/usr/sbin/squid"}
	ncsaHelpers  = []string{"/usr/lib/squid/basic_ncsa_auth", "/usr/lib64/squid/basic_ncsa_auth", "/usr/libexec/squid/basic_ncsa_auth"}
	squidRunUser = "proxy" // the Debian package's user; squid will not run as root
)

// Squid starts Debian's squid in the foreground (-N) on a free loopback
// port, with no disk cache and no memory cache, its configuration, log and
// PID file in a temp dir. As root it runs as the "proxy" user. It is killed
// when the test ends.
func Squid(t testing.TB, cfg SquidConfig) *Proxy {
	t.Helper()
	helper := ""
	if len(cfg.Users) > 0 {
		h, err := find(ncsaHelpers)
		if err != nil {
			t.Fatalf("realproxy: squid's basic_ncsa_auth helper is not installed (Debian package squid): run scripts/ensure-test-deps.sh")
		}
		helper = h
	}
	runAs := ""
	if os.Geteuid() == 0 {
		runAs = squidRunUser
		if _, err := user.Lookup(runAs); err != nil {
			runAs = "nobody"
		}
	}
	return start(t, spec{
		name: "squid", paths: squidPaths, pkg: "squid", scheme: "http",
		prepare: func(dir string) error {
			if runAs == "" {
				return nil
			}
			// squid drops root before it writes its log or starts helpers:
			// open the temp dir (and its parent, to traverse) to that user.
			if err := os.Chmod(dir, 0o777); err != nil {
				return err
			}
			return os.Chmod(filepath.Dir(dir), 0o755)
		},
		config: func(dir string, port int) (string, error) {
			return squidConfig(dir, port, runAs, helper, cfg.Users)
		},
		args: func(dir, conf string) []string {
			// A service name of its own (-n) gives each squid its own shared
			// memory segments (/dev/shm/NAME-*.shm), removed by cleanup.
			return []string{"-N", "-n", squidService(dir), "-f", conf}
		},
		cleanup: func(dir string) {
			files, _ := filepath.Glob("/dev/shm/" + squidService(dir) + "-*")
			for _, f := range files {
				_ = os.Remove(f)
			}
		},
	})
}

// squidService is the service name of the squid running in dir: unique per
// temp dir, letters and digits only.
func squidService(dir string) string {
	sum := md5.Sum([]byte(dir))
	return "rctest" + hex.EncodeToString(sum[:6])
}

func squidConfig(dir string, port int, runAs, helper string, users map[string]string) (string, error) {
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("http_port 127.0.0.1:" + strconv.Itoa(port))
	line("pid_filename " + filepath.Join(dir, "squid.pid"))
	line("cache_log " + filepath.Join(dir, "cache.log"))
	line("access_log none")
	line("cache_store_log none")
	line("cache deny all")
	line("cache_mem 0 MB")
	line("coredump_dir " + dir)
	line("netdb_filename none")
	line("pinger_enable off")
	line("shutdown_lifetime 0 seconds")
	line("dns_nameservers 127.0.0.1") // targets are IP literals; never ask the network
	if runAs != "" {
		line("cache_effective_user " + runAs)
	}
	if len(users) > 0 {
		file := filepath.Join(dir, "passwd")
		names := make([]string, 0, len(users))
		for u := range users {
			names = append(names, u)
		}
		sort.Strings(names)
		var pw strings.Builder
		for _, u := range names {
			// basic_ncsa_auth accepts an unsalted MD5 hex digest: fine for a
			// throwaway test password, never for a real one.
			sum := md5.Sum([]byte(users[u]))
			fmt.Fprintf(&pw, "%s:%s\n", u, hex.EncodeToString(sum[:]))
		}
		if err := writeFile(file, pw.String()); err != nil {
			return "", err
		}
		line("auth_param basic program " + helper + " " + file)
		line("auth_param basic children 2 startup=1 idle=1")
		line("auth_param basic realm realproxy")
		line("acl authed proxy_auth REQUIRED")
		line("http_access allow localhost authed")
		line("http_access deny all")
	} else {
		line("http_access allow localhost")
		line("http_access deny all")
	}
	conf := filepath.Join(dir, "squid.conf")
	return conf, writeFile(conf, b.String())
}
