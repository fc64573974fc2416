package api

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
)

// MaxBody is the largest request body the API reads (1 MiB); a larger one
// is answered 413.
const MaxBody = 1 << 20

// MaxPoolBody is the largest body PATCH /v1/pool reads (64 MiB, some
// 500,000 entries); a larger one is answered 413.
const MaxPoolBody = 64 << 20

// HeartbeatInterval is how often an idle event stream gets a comment line.
const HeartbeatInterval = 15 * time.Second

// Members lists the fleet's nodes. cluster.Node implements it through a
// small adapter in the agent; the api package does not import cluster.
type Members interface {
	Members() []Member
}

// MembersFunc adapts a function to Members.
type MembersFunc func() []Member

// Members calls f.
func (f MembersFunc) Members() []Member { return f() }

// StatsSource publishes extra Prometheus figures (cluster, ledger) without
// the api package importing them. CollectStats is called at every scrape
// and must not block.
type StatsSource interface {
	CollectStats() []Stat
}

// StatKind says whether a Stat is a counter or a gauge.
type StatKind uint8

const (
	Counter StatKind = iota // a value that only goes up
	Gauge                   // a value that goes up and down
)

// String returns "counter" or "gauge".
func (k StatKind) String() string {
	if k == Gauge {
		return "gauge"
	}
	return "counter"
}

// Stat is one figure of a StatsSource. Name should start with
// "retrycoord_"; every Stat of one Name must carry the same label names.
type Stat struct {
	Name   string
	Help   string
	Kind   StatKind
	Labels map[string]string
	Value  float64
}

// Config configures a Handler. Coordinator is required; every other zero
// field has the documented default.
type Config struct {
	// Coordinator is the node's coordinator (required).
	Coordinator *coord.Coordinator
	// Members lists the fleet (default: this node alone, alive).
	Members Members
	// Ready reports readiness for GET /v1/ready: 200 when Ready, else 503
	// with the reason (default: always ready). It is called on every
	// request, from any goroutine.
	Ready func() Readiness
	// Token is the bearer token writes and select need. Empty: writes are
	// refused (403) unless Dev.
	Token string
	// Dev opens writes to anyone (a loopback development node).
	Dev bool
	// Keyring manages the gossip keys through /v1/keys (default: none,
	// those routes answer 404). Every keys route needs the token.
	Keyring Keyring
	// Stats are extra figures for /metrics.
	Stats []StatsSource
	// ProbeOwner names the node that probes a breaker when its open time
	// runs out, for /v1/view (default: not shown). cluster.Node.ProbeOwner
	// fits. It is called from any goroutine and must not block.
	ProbeOwner func(key string) string
	// Logger receives API writes at Info (default: discard). Tokens and
	// credentials never reach it.
	Logger *slog.Logger
	// Version is reported by /v1/health and retrycoord_build_info.
	Version string
	// MITMCA is the forward proxy's interception CA fingerprint, reported
	// by /v1/health (default: none, interception off).
	MITMCA string
}

// Handler serves the admin API. It is safe for concurrent use. NewHandler
// starts one goroutine (counting transitions for /metrics); Close stops it
// and ends every open event stream.
type Handler struct {
	cfg       Config
	c         *coord.Coordinator
	mux       *http.ServeMux
	tokenSum  [32]byte
	logger    *slog.Logger
	metrics   http.Handler
	counts    *transitionCounter
	heartbeat time.Duration

	streamsMu sync.Mutex // guards closed, open and the Add side of streams
	closed    bool
	open      int // streams being served
	streams   sync.WaitGroup
	closing   chan struct{}
}

// NewHandler returns the API over cfg.Coordinator.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Coordinator == nil {
		return nil, errors.New("api: Config.Coordinator is required")
	}
	h := &Handler{
		cfg:       cfg,
		c:         cfg.Coordinator,
		mux:       http.NewServeMux(),
		logger:    cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		heartbeat: HeartbeatInterval,
		closing:   make(chan struct{}),
	}
	if cfg.Token != "" {
		h.tokenSum = sha256.Sum256([]byte(cfg.Token))
	}
	h.counts = newTransitionCounter(h.c.Table())
	h.metrics = h.newMetrics()
	h.routes()
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close ends every open event stream, stops the transition counter and
// waits for both. It is idempotent and returns nil.
func (h *Handler) Close() error {
	h.streamsMu.Lock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
	h.streamsMu.Unlock()
	h.streams.Wait()
	h.counts.close()
	return nil
}

// routes registers every route, a JSON 405 for each path's other methods
// and a JSON 404 for everything else.
func (h *Handler) routes() {
	type route struct {
		method, path string
		fn           http.HandlerFunc
		write        bool // needs the token
	}
	rs := []route{
		{"GET", "/v1/health", h.health, false},
		{"GET", "/v1/ready", h.ready, false},
		{"GET", "/v1/members", h.members, false},
		{"GET", "/v1/breakers", h.listBreakers, false},
		{"GET", "/v1/breakers/{upstream}", h.getBreaker, false},
		{"POST", "/v1/breakers/{upstream}/trip", h.trip, true},
		{"POST", "/v1/breakers/{upstream}/reset", h.reset, true},
		{"GET", "/v1/sites/{site}", h.getBreaker, false},
		{"POST", "/v1/sites/{site}/trip", h.trip, true},
		{"POST", "/v1/sites/{site}/reset", h.reset, true},
		{"GET", "/v1/policy", h.getPolicy, false},
		{"PATCH", "/v1/policy", h.patchPolicy, true},
		{"GET", "/v1/pool", h.listPool, false},
		{"POST", "/v1/pool", h.addUpstream, true},
		{"PATCH", "/v1/pool", h.updatePool, true},
		{"DELETE", "/v1/pool/{upstream}", h.removeUpstream, true},
		{"POST", "/v1/select", h.selectUpstream, true},
		{"POST", "/v1/report", h.report, true},
		{"GET", "/v1/metrics/summary", h.summary, false},
		{"GET", "/v1/metrics/timeseries", h.timeSeries, false},
		{"GET", "/v1/metrics/proxies", h.byProxy, false},
		{"GET", "/v1/metrics/events", h.events, false},
		{"GET", "/v1/budgets", h.budgets, false}, // budget.go
		{"GET", "/v1/events", h.stream, false},
		{"GET", "/v1/view", h.view, false}, // view.go
		{"GET", "/metrics", h.metrics.ServeHTTP, false},
		{"GET", "/v1/keys", h.listKeys, true}, // keys.go
		{"POST", "/v1/keys", h.installKey(), true},
		{"POST", "/v1/keys/use", h.useKey(), true},
		{"DELETE", "/v1/keys", h.removeKey(), true},
	}
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range rs {
		fn := rt.fn
		if rt.write {
			fn = h.authorized(fn)
		}
		h.mux.HandleFunc(rt.method+" "+rt.path, fn)
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				fmt.Sprintf("api: method %s not allowed on %s (allowed: %s)", r.Method, p, allow))
		})
	}
	h.uiRoutes() // ui.go
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "api: no route "+r.URL.Path)
	})
}

// authorized wraps a write: Dev opens it, otherwise it needs the bearer
// token, compared in constant time (of SHA-256 sums, so that the length
// does not leak either).
func (h *Handler) authorized(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case h.cfg.Dev:
		case h.cfg.Token == "":
			writeError(w, http.StatusForbidden, CodeForbidden,
				"api: writes are disabled: start the agent with --api-token (or RETRYCOORD_API_TOKEN), or --dev")
			return
		default:
			got, ok := bearer(r)
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="retrycoord"`)
				writeError(w, http.StatusUnauthorized, CodeUnauthorized,
					"api: this request needs Authorization: Bearer <token> (the agent's --api-token)")
				return
			}
		}
		fn(w, r)
	}
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// decode reads a JSON body of at most MaxBody bytes into v, strictly: one
// object, no unknown fields. It answers the error itself and reports
// whether the caller may go on.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	return ok && decodeBytes(w, body, v)
}

// decodeUpTo is decode with a bound of its own on the body.
func decodeUpTo(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, ok := readBodyUpTo(w, r, limit)
	return ok && decodeBytes(w, body, v)
}

// decodeOptional is decode for a body that may be empty (v stays zero).
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	return len(bytes.TrimSpace(body)) == 0 || decodeBytes(w, body, v)
}

func decodeBytes(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "api: bad JSON body: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "api: a JSON body is required"
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, msg)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: bad JSON body: data after the object")
		return false
	}
	return true
}

// readBody reads a body of at most MaxBody bytes, answering 413 beyond.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return readBodyUpTo(w, r, MaxBody)
}

// readBodyUpTo reads a body of at most limit bytes, answering 413 beyond.
func readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("api: request body larger than %d bytes", limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "api: cannot read the body")
		return nil, false
	}
	return b, true
}
