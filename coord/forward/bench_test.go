package forward

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// BenchmarkForward compares the latency of sequential keep-alive requests
// sent straight through an upstream test proxy (direct) with the same
// requests sent through the forward proxy to that upstream (via-agent), and
// https:// requests through its TLS interception (via-agent-mitm).
func BenchmarkForward(b *testing.B) {
	origin := testproxy.NewOrigin(b)
	up := testproxy.NewProxy(b)
	b.Run("direct", func(b *testing.B) {
		benchLatency(b, client(b, up.URL(), nil, true), origin.URL)
	})
	b.Run("via-agent", func(b *testing.B) {
		_, purl := serve(b, Config{Coordinator: newCoord(b, up.URL())})
		benchLatency(b, client(b, purl, nil, true), origin.URL)
	})
	b.Run("via-agent-mitm", func(b *testing.B) { benchMITM(b, up) }) // intercept_bench_test.go
}

func benchLatency(b *testing.B, cl *http.Client, u string) {
	fetch := func() {
		resp, err := cl.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 50 { // warm the connections
		fetch()
	}
	lat := make([]time.Duration, 0, 1<<14)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		fetch()
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return float64(testutil.Rank(lat, q)) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}

// throughputClients is how many keep-alive clients BenchmarkForwardThroughput
// runs at once.
const throughputClients = 64

// interleaveRound is how many requests each path carries in turn in
// BenchmarkForwardThroughput/interleaved before the next path's turn.
const interleaveRound = 2000

// BenchmarkForwardThroughput compares how many requests per second 64
// concurrent keep-alive clients get through a local test proxy to a local
// origin going straight to that proxy (direct) and through the forward
// proxy in front of it (via-agent), in the same run. allocs/op are the
// whole process's per request: client, test proxy and origin in both rows,
// the forward proxy in via-agent too (in interleaved, the mean of its
// three paths).
//
// The two rows run one after the other, and this shared host's speed
// drifts by a third within seconds, so their ratio moves with it. The
// interleaved row runs five paths in turns of interleaveRound requests (a
// fifth of b.N each) and reports the requests/s and CPU time per request
// of the other four as fractions of direct's over the same minutes: via
// the agent (via/direct-req/s, direct/via-cpu); via stdlibProxy, the
// forward proxy one writes with net/http alone (stdlib/direct-req/s,
// direct/stdlib-cpu), a yardstick for what one more proxy hop costs in Go
// before any coordination; via httpRelay, which parses each request and
// answer with net/http's parser and does nothing else (parse/direct-req/s,
// direct/parse-cpu): the most a hop that reads HTTP can reach; and via
// byteRelay, which parses nothing (relay/direct-req/s, direct/relay-cpu):
// the most any hop can reach.
//
//	go test -run '^$' -bench BenchmarkForwardThroughput -benchtime=5s ./coord/forward
func BenchmarkForwardThroughput(b *testing.B) {
	origin := testproxy.NewOrigin(b)
	up := testproxy.NewProxy(b)
	b.Run("direct", func(b *testing.B) {
		benchThroughput(b, newClientFleet(b, up.URL(), origin.URL))
	})
	b.Run("via-agent", func(b *testing.B) {
		c := newCoord(b, up.URL())
		_, purl := serve(b, Config{Coordinator: c})
		benchThroughput(b, newClientFleet(b, purl, origin.URL))
		reportAttempts(b, c)
	})
	b.Run("interleaved", func(b *testing.B) {
		direct := newClientFleet(b, up.URL(), origin.URL)
		c := newCoord(b, up.URL())
		_, purl := serve(b, Config{Coordinator: c})
		via := newClientFleet(b, purl, origin.URL)
		stdlib := newClientFleet(b, stdlibProxy(b, up.URL()), origin.URL)
		parse := newClientFleet(b, httpRelay(b, up.Addr()), origin.URL)
		relay := newClientFleet(b, byteRelay(b, up.Addr()), origin.URL)
		var directRun, viaRun, stdlibRun, parseRun, relayRun fleetRun
		b.ReportAllocs()
		b.ResetTimer()
		for left := b.N; left > 0; {
			n := min(left, 5*interleaveRound)
			directRun.add(direct.run(b, n/5))
			viaRun.add(via.run(b, n/5))
			stdlibRun.add(stdlib.run(b, n/5))
			parseRun.add(parse.run(b, n/5))
			relayRun.add(relay.run(b, n-4*(n/5)))
			left -= n
		}
		b.StopTimer()
		if directRun.reqs > 0 && viaRun.reqs > 0 && stdlibRun.reqs > 0 && parseRun.reqs > 0 {
			b.ReportMetric(viaRun.perSecond()/directRun.perSecond(), "via/direct-req/s")
			b.ReportMetric(directRun.cpuPerRequest()/viaRun.cpuPerRequest(), "direct/via-cpu")
			b.ReportMetric(stdlibRun.perSecond()/directRun.perSecond(), "stdlib/direct-req/s")
			b.ReportMetric(directRun.cpuPerRequest()/stdlibRun.cpuPerRequest(), "direct/stdlib-cpu")
			b.ReportMetric(parseRun.perSecond()/directRun.perSecond(), "parse/direct-req/s")
			b.ReportMetric(directRun.cpuPerRequest()/parseRun.cpuPerRequest(), "direct/parse-cpu")
			b.ReportMetric(relayRun.perSecond()/directRun.perSecond(), "relay/direct-req/s")
			b.ReportMetric(directRun.cpuPerRequest()/relayRun.cpuPerRequest(), "direct/relay-cpu")
		}
		reportAttempts(b, c)
	})
}

// stdlibProxy starts the forward proxy one writes with net/http alone in
// front of upstream, and returns its URL: a Server whose handler sends
// each absolute-form request on through a Transport whose Proxy is
// upstream, and copies the answer back.
func stdlibProxy(b *testing.B, upstream string) string {
	up, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(up), DisableCompression: true, MaxIdleConnsPerHost: throughputClients}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		if r.ContentLength == 0 {
			out.Body = nil
		}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	b.Cleanup(srv.Close)
	b.Cleanup(tr.CloseIdleConnections)
	return srv.URL
}

// byteRelay starts a relay in front of upstream (host:port) that parses
// nothing: each connection accepted gets a connection of its own to
// upstream, and two goroutines copy bytes between them until either side
// closes. It is no proxy a fleet could use (it cannot choose, count or
// retry), only the floor of what a hop costs on this host: two reads and
// two writes a request, the hand-offs between goroutines, and no HTTP. It
// returns the relay's URL; its goroutines are gone once b has ended.
func byteRelay(b *testing.B, upstream string) string {
	return startHop(b, upstream, func(c, u net.Conn) {
		back := make(chan struct{})
		go func() {
			_, _ = io.Copy(c, u)
			_ = c.Close()
			_ = u.Close()
			close(back)
		}()
		_, _ = io.Copy(u, c)
		_ = u.Close()
		_ = c.Close()
		<-back
	})
}

// httpRelay starts a hop in front of upstream (host:port) that reads HTTP
// and does nothing else: each connection accepted gets a connection of its
// own to upstream, and one goroutine reads a request (http.ReadRequest),
// writes it on (Request.WriteProxy), reads the answer (http.ReadResponse)
// and writes it back (Response.Write), until either side closes. No server
// (no timeouts, no noticing a client that went away), no pool, no choice:
// the most a proxy hop that parses HTTP with net/http's parser can reach
// on this host. It returns the hop's URL; its goroutines are gone once b
// has ended.
func httpRelay(b *testing.B, upstream string) string {
	return startHop(b, upstream, func(c, u net.Conn) {
		br, bw := bufio.NewReader(c), bufio.NewWriter(c)
		ubr, ubw := bufio.NewReader(u), bufio.NewWriter(u)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.WriteProxy(ubw) != nil || ubw.Flush() != nil {
				return
			}
			resp, err := http.ReadResponse(ubr, req)
			if err != nil {
				return
			}
			err = resp.Write(bw)
			_ = resp.Body.Close()
			if err != nil || bw.Flush() != nil {
				return
			}
		}
	})
}

// startHop listens on a loopback port and, for each connection accepted,
// dials upstream and calls serve with both in a goroutine of its own; both
// connections are closed after serve returns. It returns the hop's URL;
// when b ends it closes the listener and every connection and waits for
// every serve.
func startHop(b *testing.B, upstream string, serve func(client, up net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				b.Error(err)
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				defer u.Close()
				serve(c, u)
			}()
		}
	}()
	b.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// reportAttempts reports the attempts per request c made, and logs failed
// ones: every attempt through a healthy test proxy should succeed.
func reportAttempts(b *testing.B, c *coord.Coordinator) {
	if s := c.Recorder().Summary(); s.Requests > 0 {
		b.ReportMetric(float64(s.Attempts)/float64(s.Requests), "attempts/req")
		if len(s.Failures) > 0 {
			b.Logf("failed attempts: %v", s.Failures)
		}
	}
}

func benchThroughput(b *testing.B, f *clientFleet) {
	b.ReportAllocs()
	b.ResetTimer()
	r := f.run(b, b.N)
	b.StopTimer()
	b.ReportMetric(r.perSecond(), "req/s")
	b.ReportMetric(float64(r.cpu)/float64(time.Microsecond)/float64(r.reqs), "cpu-us/req")
}

// clientFleet is throughputClients keep-alive clients getting one URL
// through one proxy.
type clientFleet struct {
	cl     *http.Client
	target string
}

// newClientFleet returns the fleet with one connection per client open.
func newClientFleet(b *testing.B, proxyURL, target string) *clientFleet {
	cl := client(b, proxyURL, nil, true)
	cl.Transport.(*http.Transport).MaxIdleConnsPerHost = throughputClients
	f := &clientFleet{cl: cl, target: target}
	f.run(b, throughputClients)
	return f
}

// fetch gets the target and reads the answer's body.
func (f *clientFleet) fetch() error {
	resp, err := f.cl.Get(f.target)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// fleetRun is what some requests of a fleet took: wall and process CPU
// time.
type fleetRun struct {
	reqs      int
	wall, cpu time.Duration
}

func (r *fleetRun) add(o fleetRun) {
	r.reqs += o.reqs
	r.wall += o.wall
	r.cpu += o.cpu
}

func (r fleetRun) perSecond() float64 { return float64(r.reqs) / r.wall.Seconds() }

func (r fleetRun) cpuPerRequest() float64 { return float64(r.cpu) / float64(r.reqs) }

// run sends n requests with every client at once, each taking the next
// request as soon as its last one is answered, and returns when all are
// answered. A failed request fails b.
func (f *clientFleet) run(b *testing.B, n int) fleetRun {
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0, start := processCPU(), time.Now()
	for range min(n, throughputClients) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := f.fetch(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fleetRun{reqs: n, wall: time.Since(start), cpu: processCPU() - cpu0}
}

// processCPU returns the CPU time (user and system) this process used so
// far. On a shared machine req/s follows whatever CPU the others leave;
// CPU per request does not, and on a machine where every process of the
// chain is CPU-bound, req/s is the cores over it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
