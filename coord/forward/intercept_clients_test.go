package forward

// Real clients through the interception: curl with --cacert, Python's
// standard library with a cafile, and real upstream proxies (squid,
// tinyproxy). A missing curl or python3 fails the test (make test installs
// curl through scripts/ensure-test-deps.sh; python3 is on every machine
// that runs the suite).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/realproxy"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// need returns the path of a program the test needs, failing the test when
// it is missing.
func need(t *testing.T, prog, how string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is not installed: %s", prog, how)
	}
	return path
}

// run runs a program with a clean environment (no proxy variables) and
// returns its standard output.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
	if v, ok := os.LookupEnv("PYENV_ROOT"); ok {
		cmd.Env = append(cmd.Env, "PYENV_ROOT="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// TestInterceptCurl: curl trusting the CA with --cacert gets the origin's
// 200 after the agent retried its 503.
func TestInterceptCurl(t *testing.T) {
	curl := need(t, "curl", "run scripts/ensure-test-deps.sh (make test does)")
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted(503))
	farm := testproxy.Start(t, 2)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	out := run(t, curl, "-sS", "--noproxy", "", "--proxy", purl, "--cacert", writePEM(t, ca),
		"-o", "/dev/null", "-w", "%{http_code} %header{"+coord.HeaderAttempts+"}", origin.URL+"/curl")
	if out != "200 2" {
		t.Fatalf("curl: %q, want \"200 2\" (status, attempts)", out)
	}
	// Without --cacert curl refuses the leaf; the agent counts why.
	cmd := exec.Command(curl, "-sS", "--noproxy", "", "--proxy", purl, origin.URL+"/untrusted")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("curl without --cacert succeeded: %s", out)
	}
	waitStats(t, p, func(s InterceptStats) bool { return s.HandshakeFailures["untrusted"] == 1 })
}

// pyClient is the Python script: urllib through the proxy, trusting the CA
// file, printing status, attempts and body.
const pyClient = `
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({"https": sys.argv[2]}),
    urllib.request.HTTPSHandler(context=ctx))
with opener.open(sys.argv[3], timeout=20) as r:
    print(r.status, r.headers.get("X-Retrycoord-Attempts"), r.read().decode(), end="")
`

// TestInterceptPython: Python's urllib with a cafile gets the origin's 200
// after the agent retried its 503.
func TestInterceptPython(t *testing.T) {
	py := need(t, "python3", "install Debian's python3")
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted(503))
	farm := testproxy.Start(t, 2)
	_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	out := run(t, py, "-c", pyClient, writePEM(t, ca), purl, origin.URL+"/python")
	if out != "200 2 ok" {
		t.Fatalf("python: %q, want \"200 2 ok\" (status, attempts, body)", out)
	}
}

// TestInterceptThroughRealProxies: the interception works through squid
// and tinyproxy as upstreams: the CONNECT to the origin goes through them,
// the origin's certificate is verified inside, and a 503 is retried.
func TestInterceptThroughRealProxies(t *testing.T) {
	for _, start := range []func(t testing.TB) *realproxy.Proxy{
		func(t testing.TB) *realproxy.Proxy { return realproxy.Squid(t, realproxy.SquidConfig{}) },
		realproxy.Tinyproxy,
	} {
		px := start(t)
		t.Run(px.Name(), func(t *testing.T) {
			ca := testCA(t)
			origin := newNamedOrigin(t, scripted(503))
			c := newCoord(t, px.URL())
			_, purl := serve(t, Config{Coordinator: c, Intercept: interceptCfg(ca, origin)})
			resp, body := get(t, client(t, purl, trusting(ca), true), origin.URL+"/real")
			if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderAttempts) != "2" {
				t.Fatalf("got %d %q attempts %q; want 200 ok after 2 (proxy log: %s)", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts), px.Log())
			}
			if got := len(origin.Seen()); got != 2 {
				t.Errorf("origin saw %d requests, want 2", got)
			}
		})
	}
}
