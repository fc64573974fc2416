//go:build compose

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api"
)

// The compose suite runs against the stack scripts/integration.sh starts
// (docker-compose.yml) and finds it through these variables.
const (
	envCompose     = "RETRYCOORD_COMPOSE"      // the compose command: "docker compose" or "docker-compose"
	envComposeFile = "RETRYCOORD_COMPOSE_FILE" // absolute path of the compose file
	envProject     = "COMPOSE_PROJECT_NAME"
	envToken       = "RETRYCOORD_API_TOKEN"
)

// nodes are the agents' compose services; upstreamKey names the farm's
// proxies as the agents key them (docker/pool.txt).
var nodes = []string{"node-1", "node-2", "node-3"}

func upstreamKey(farmIndex int) string { return fmt.Sprintf("http://proxyfarm:%d", 9001+farmIndex) }

// originURL is the farm's origin as the agents' upstream proxies reach it.
const originURL = "http://origin:9200"

// stack is the running compose project. Its methods are safe for
// concurrent use.
type stack struct {
	compose []string
	file    string
	project string
	token   string
	hc      *http.Client // no keep-alive: no idle connection outlives a test (goleak)

	portsMu sync.Mutex        // guards ports and ids
	ports   map[string]string // "service/port" → 127.0.0.1:hostport
	ids     map[string]string // service → container id
}

var (
	stackOnce sync.Once
	theStack  *stack
)

// composeStack returns the stack, skipping the test when the suite was not
// started by scripts/integration.sh (make integration).
func composeStack(t *testing.T) *stack {
	t.Helper()
	file := os.Getenv(envComposeFile)
	if file == "" || os.Getenv(envProject) == "" || os.Getenv(envToken) == "" {
		t.Skipf("the compose suite runs through `make integration` (%s, %s and %s unset)", envComposeFile, envProject, envToken)
	}
	stackOnce.Do(func() {
		theStack = &stack{
			compose: strings.Fields(os.Getenv(envCompose)),
			file:    file,
			project: os.Getenv(envProject),
			token:   os.Getenv(envToken),
			hc:      &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
			ports:   map[string]string{},
			ids:     map[string]string{},
		}
		if len(theStack.compose) == 0 {
			theStack.compose = []string{"docker-compose"}
		}
	})
	return theStack
}

// dc runs a compose command (every profile enabled, so that the intruder
// service can be named) and returns its trimmed standard output.
func (s *stack) dc(ctx context.Context, args ...string) (string, error) {
	full := append(append(s.compose[1:], "-f", s.file, "-p", s.project, "--profile", "intruder"), args...)
	return run(ctx, s.compose[0], full...)
}

// docker runs a docker command and returns its trimmed standard output.
func (s *stack) docker(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "docker", args...)
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// dockerT and dcT are docker and dc that fail the test on error.
func (s *stack) dockerT(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.docker(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *stack) dcT(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.dc(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// container returns a service's container id.
func (s *stack) container(t testing.TB, service string) string {
	t.Helper()
	s.portsMu.Lock()
	id, ok := s.ids[service]
	s.portsMu.Unlock()
	if ok {
		return id
	}
	id = s.dcT(t, "ps", "-q", service)
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("service %s: want one container, got %q", service, id)
	}
	s.portsMu.Lock()
	s.ids[service] = id
	s.portsMu.Unlock()
	return id
}

// addr returns the loopback address a service's container port is published
// on. Host ports are picked by docker, and change when a container is
// started again: forget drops what is cached.
func (s *stack) addr(t testing.TB, service string, port int) string {
	t.Helper()
	a, err := s.lookupAddr(t, service, port)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// lookupAddr is addr without failing the test (for a container that is
// still starting).
func (s *stack) lookupAddr(t testing.TB, service string, port int) (string, error) {
	k := fmt.Sprintf("%s/%d", service, port)
	s.portsMu.Lock()
	a, ok := s.ports[k]
	s.portsMu.Unlock()
	if ok {
		return a, nil
	}
	out, err := s.docker(t.Context(), "port", s.container(t, service), fmt.Sprintf("%d/tcp", port))
	if err != nil {
		return "", err
	}
	a, _, _ = strings.Cut(out, "\n")
	if _, p, err := net.SplitHostPort(a); err != nil || p == "0" {
		return "", fmt.Errorf("%s port %d: no published address (got %q)", service, port, out)
	}
	s.portsMu.Lock()
	s.ports[k] = a
	s.portsMu.Unlock()
	return a, nil
}

// forget drops the cached published ports of a service.
func (s *stack) forget(service string) {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	for k := range s.ports {
		if strings.HasPrefix(k, service+"/") {
			delete(s.ports, k)
		}
	}
	if service == "intruder" { // a new container every time
		delete(s.ids, service)
	}
}

// api returns an admin API client of a node (the token included).
func (s *stack) api(t testing.TB, service string) *api.Client {
	return api.NewClient("http://"+s.addr(t, service, 7947), s.token, s.hc)
}

// proxyURL is a node's forward proxy as seen from the host.
func (s *stack) proxyURL(t testing.TB, service string) *url.URL {
	return &url.URL{Scheme: "http", Host: s.addr(t, service, 7948)}
}

// farm sends a request to the proxy farm's admin API.
func (s *stack) farm(t testing.TB, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.addr(t, "proxyfarm", 9100)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("farm %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("farm %s %s: %s: %s", method, path, resp.Status, b)
	}
	return string(b)
}

// breakProxy sets a farm proxy's fault (e.g. "status 502", "refuse").
func (s *stack) breakProxy(t testing.TB, farmIndex int, fault string) {
	t.Helper()
	s.farm(t, http.MethodPut, fmt.Sprintf("/proxies/%d/fault", farmIndex), fault)
}

// waitFor polls cond every interval until it holds or timeout passes; cond
// returns whether it holds and what it saw, for the failure message. (The
// package's eventually polls every 5ms: too often for docker commands.)
func waitFor(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s; last seen: %s", timeout, what, saw)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(interval):
		}
	}
}

// holdFor checks that cond holds on every poll for the whole of d: the way
// to show that something does NOT happen.
func holdFor(t testing.TB, d, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if ok, saw := cond(); !ok {
			t.Fatalf("%s: broken: %s", what, saw)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(interval):
		}
	}
}

// members returns a node's view of the fleet: name → state.
func (s *stack) members(t testing.TB, service string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	ms, err := s.api(t, service).Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Name] = m.State
	}
	return out, nil
}

// wholeFleet reports whether every node sees exactly node-1..3, alive.
func (s *stack) wholeFleet(t testing.TB) (bool, string) {
	var saw []string
	ok := true
	for _, n := range nodes {
		ms, err := s.members(t, n)
		saw = append(saw, fmt.Sprintf("%s: %v %v", n, ms, err))
		if err != nil || len(ms) != len(nodes) {
			ok = false
			continue
		}
		for _, m := range nodes {
			if ms[m] != "alive" {
				ok = false
			}
		}
	}
	return ok, strings.Join(saw, "; ")
}

// breaker returns a node's breaker of an upstream.
func (s *stack) breaker(t testing.TB, service, upstream string) (api.Breaker, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	return s.api(t, service).Breaker(ctx, upstream)
}

// reset brings the stack back to a known state before a test: every farm
// proxy healthy, every breaker closed on every node, the fleet whole.
func (s *stack) reset(t *testing.T) {
	t.Helper()
	waitFor(t, 90*time.Second, time.Second, "the fleet is whole before the test", func() (bool, string) { return s.wholeFleet(t) })
	s.farm(t, http.MethodPost, "/reset", "")
	waitFor(t, 30*time.Second, 200*time.Millisecond, "every breaker closed on every node", func() (bool, string) {
		var saw []string
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			bs, err := s.api(t, n).Breakers(ctx, "")
			cancel()
			if err != nil {
				saw = append(saw, fmt.Sprintf("%s: %v", n, err))
				continue
			}
			for _, b := range bs {
				if b.Phase == "closed" {
					continue
				}
				saw = append(saw, fmt.Sprintf("%s: %s %s gen %d", n, b.Upstream, b.Phase, b.Gen))
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				_, err := s.api(t, n).ResetAt(ctx, b.Upstream, b.Site) // a proxy's, a pair's or a site's
				cancel()
				if err != nil {
					saw = append(saw, err.Error())
				}
			}
		}
		return len(saw) == 0, strings.Join(saw, "; ")
	})
}
