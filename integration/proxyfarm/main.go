// Command proxyfarm runs a farm of HTTP forward proxies with switchable
// faults, and an origin server, for retrycoord's demo and docker compose
// integration suite.
//
//	proxyfarm -proxies 10 -base-port 9000 -admin :9100 -origin :9200 -pool-file pool.txt
//
// Each proxy handles absolute-form requests and CONNECT. Its fault is
// switched through the admin API:
//
//	GET  /proxies                  the proxies, their faults and counters (JSON)
//	PUT  /proxies/{i}/fault        body: healthy | refuse | status 502 | 407 | hang 5s | slow 100ms | ban 403
//	POST /reset                    every proxy healthy, counters zeroed
//	GET  /healthz                  200 once listening
//
// The origin answers 200 "origin ok <path>" to every request, and
// /status/{code} with that status.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

type options struct {
	host          string // where the proxies listen
	advertiseHost string // host written into the pool file
	proxies       int
	basePort      int
	admin         string
	origin        string
	poolFile      string
}

func main() {
	var o options
	flag.StringVar(&o.host, "host", "127.0.0.1", "address the proxies listen on (0.0.0.0 in a container)")
	flag.StringVar(&o.advertiseHost, "advertise-host", "", "host name written into the pool file (default: -host)")
	flag.IntVar(&o.proxies, "proxies", 10, "number of proxies (1–1000)")
	flag.IntVar(&o.basePort, "base-port", 0, "port of the first proxy, the others follow (0: free ports)")
	flag.StringVar(&o.admin, "admin", "127.0.0.1:9100", "admin API address")
	flag.StringVar(&o.origin, "origin", "127.0.0.1:9200", "origin server address (empty: none)")
	flag.StringVar(&o.poolFile, "pool-file", "", "write a retrycoord pool file listing the proxies here")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger, nil); err != nil {
		fmt.Fprintln(os.Stderr, "proxyfarm:", err)
		os.Exit(1)
	}
}

// farm is the running set of proxies.
type farm struct {
	proxies []*testproxy.Proxy
}

// run starts the farm and serves until ctx ends. ready, when not nil,
// receives the admin API's address once everything listens.
func run(ctx context.Context, o options, logger *slog.Logger, ready chan<- string) error {
	if o.proxies < 1 || o.proxies > 1000 {
		return fmt.Errorf("-proxies %d: want 1–1000", o.proxies)
	}
	f := &farm{}
	defer func() {
		for _, p := range f.proxies {
			p.Close()
		}
	}()
	for i := range o.proxies {
		port := 0
		if o.basePort > 0 {
			port = o.basePort + i
		}
		p, err := testproxy.ListenAddr(net.JoinHostPort(o.host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		f.proxies = append(f.proxies, p)
	}
	if o.poolFile != "" {
		if err := f.writePool(o); err != nil {
			return err
		}
	}

	var servers []*http.Server
	adminLn, err := net.Listen("tcp", o.admin)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	servers = append(servers, serve(adminLn, f.adminHandler()))
	if o.origin != "" {
		originLn, err := net.Listen("tcp", o.origin)
		if err != nil {
			adminLn.Close()
			return fmt.Errorf("origin: %w", err)
		}
		servers = append(servers, serve(originLn, http.HandlerFunc(origin)))
	}
	logger.Info("proxyfarm ready", "proxies", len(f.proxies), "first", f.proxies[0].Addr(), "admin", adminLn.Addr().String(), "origin", o.origin)
	if ready != nil {
		ready <- adminLn.Addr().String()
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	return nil
}

func serve(ln net.Listener, h http.Handler) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	return s
}

// writePool writes a retrycoord pool file listing every proxy.
func (f *farm) writePool(o options) error {
	host := o.advertiseHost
	if host == "" {
		host = o.host
	}
	var b strings.Builder
	b.WriteString("# written by proxyfarm\n")
	for i, p := range f.proxies {
		_, port, _ := net.SplitHostPort(p.Addr())
		fmt.Fprintf(&b, "http://%s farm=%d\n", net.JoinHostPort(host, port), i)
	}
	return os.WriteFile(o.poolFile, []byte(b.String()), 0o644)
}

type proxyStatus struct {
	Index    int    `json:"index"`
	Addr     string `json:"addr"`
	Fault    string `json:"fault"`
	Requests int64  `json:"requests"`
	Connects int64  `json:"connects"`
}

func (f *farm) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /proxies", func(w http.ResponseWriter, _ *http.Request) {
		out := make([]proxyStatus, len(f.proxies))
		for i, p := range f.proxies {
			out[i] = proxyStatus{Index: i, Addr: p.Addr(), Fault: p.Fault().String(), Requests: p.Requests(), Connects: p.Connects()}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("PUT /proxies/{index}/fault", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.PathValue("index"))
		if err != nil || i < 0 || i >= len(f.proxies) {
			http.Error(w, fmt.Sprintf("no proxy %q: want 0–%d", r.PathValue("index"), len(f.proxies)-1), http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fault, err := testproxy.ParseFault(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.proxies[i].Set(fault)
		fmt.Fprintf(w, "proxy %d: %s\n", i, fault)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		for _, p := range f.proxies {
			p.Set(testproxy.Healthy())
			p.ResetCounters()
		}
		io.WriteString(w, "reset\n")
	})
	return mux
}

// origin answers every request with 200, and /status/{code} with code.
func origin(w http.ResponseWriter, r *http.Request) {
	if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		n, err := strconv.Atoi(code)
		if err != nil || n < 200 || n > 599 {
			http.Error(w, "want /status/200–599", http.StatusBadRequest)
			return
		}
		w.WriteHeader(n)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	fmt.Fprintf(w, "origin ok %s\n", r.URL.Path)
}
