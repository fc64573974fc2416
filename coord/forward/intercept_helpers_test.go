package forward

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// testCA returns a new CA for a test.
func testCA(t testing.TB) *CA {
	t.Helper()
	cp, kp, err := NewCA("test", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// trusting returns a TLS client configuration trusting only ca.
func trusting(ca *CA) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return &tls.Config{RootCAs: pool}
}

// writePEM writes ca's certificate to a file in a temp dir and returns its
// path.
func writePEM(t testing.TB, ca *CA) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// namedOrigin is an https origin at https://localhost:port whose
// certificate a root of its own signed (Root), so that a test decides who
// trusts it.
type namedOrigin struct {
	Srv  *httptest.Server
	Root *CA
	URL  string // https://localhost:port

	mu   sync.Mutex
	seen []http.Header // request headers, in order
}

// newNamedOrigin starts an https origin for "localhost" serving h, closed
// by t.Cleanup.
func newNamedOrigin(t testing.TB, h http.HandlerFunc) *namedOrigin {
	t.Helper()
	root := testCA(t)
	lc, err := newLeafCache(root, time.Hour, 4, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := lc.get("localhost")
	if err != nil {
		t.Fatal(err)
	}
	o := &namedOrigin{Root: root}
	o.Srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, r.Header.Clone())
		o.mu.Unlock()
		h(w, r)
	}))
	o.Srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	o.Srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients refusing its certificate are the point of some tests
	o.Srv.StartTLS()
	t.Cleanup(o.Srv.Close)
	_, port, _ := net.SplitHostPort(o.Srv.Listener.Addr().String())
	o.URL = "https://localhost:" + port
	return o
}

// Pool returns a root pool with only the origin's root.
func (o *namedOrigin) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(o.Root.Certificate())
	return pool
}

// Seen returns the request headers the origin saw.
func (o *namedOrigin) Seen() []http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]http.Header(nil), o.seen...)
}

// scripted answers the given statuses in turn, then 200 "ok".
func scripted(codes ...int) http.HandlerFunc {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := http.StatusOK
		if len(codes) > 0 {
			code, codes = codes[0], codes[1:]
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		if code == http.StatusOK {
			_, _ = w.Write([]byte("ok"))
		}
	}
}

// mitmCoord returns a coordinator over urls with fast retries and the
// given strategy (0: the default).
func mitmCoord(t testing.TB, strategy policy.Strategy, urls ...string) *coord.Coordinator {
	t.Helper()
	doc := policy.Document{Retry: fastRetry()}
	doc.Select.Strategy = strategy
	c, err := coord.New(coord.Config{Pool: coord.Entries(urls...), Document: doc})
	if err != nil {
		t.Fatalf("coord.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// interceptCfg is an Interception with ca trusting the origin's root.
func interceptCfg(ca *CA, o *namedOrigin) Interception {
	return Interception{CA: ca, Roots: o.Pool()}
}

// breakerFailures returns the failures counted against the proxy key's
// breaker on this node, in its window.
func breakerFailures(c *coord.Coordinator, key string) int {
	return breakerFailuresAt(c, state.ProxyKey(key))
}

// breakerFailuresAt returns the failures counted against the breaker of k
// (a proxy, a (proxy, site) pair or a site) on this node, in its window.
func breakerFailuresAt(c *coord.Coordinator, k state.Key) int {
	ev, ok := c.Table().EvidenceAt(k)
	if !ok {
		return 0
	}
	n := 0
	for _, b := range ev.Buckets {
		n += int(b.Failures)
	}
	return n
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
