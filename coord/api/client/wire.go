package client

import (
	"strconv"
	"time"
)

// The API's JSON forms: what the server (package api) answers and reads,
// and what Client decodes and sends.

// Health is the answer of GET /v1/health.
type Health struct {
	Status  string `json:"status"` // always "ok"
	Node    string `json:"node"`
	Version string `json:"version,omitempty"`
	// MITMCA is the SHA-256 fingerprint of the forward proxy's TLS
	// interception CA; empty when interception is off. The CA's key is
	// never served.
	MITMCA string `json:"mitm_ca_sha256,omitempty"`
}

// Readiness is the answer of GET /v1/ready (200 when Ready, else 503).
// A 503 also carries the reason as the API's JSON error, so that any client
// reading {"error":{…}} shows it.
type Readiness struct {
	Ready bool `json:"ready"`
	// Degraded is set when the node gave up waiting for something it needs
	// (a seed that never answered, the ledger's snapshot) and keeps trying.
	Degraded bool   `json:"degraded"`
	Reason   string `json:"reason,omitempty"`
	Error    *Error `json:"error,omitempty"` // on a 503: code not_ready, the reason as message
}

// Member is one node of the fleet as the cluster sees it.
type Member struct {
	Name    string            `json:"name"`
	Addr    string            `json:"addr,omitempty"`
	State   string            `json:"state"`             // alive, suspect, dead, left
	Suspect bool              `json:"suspect,omitempty"` // its own network is suspected: its trips are ignored
	Meta    map[string]string `json:"meta,omitempty"`
}

// Breaker is one circuit breaker as this node records it: a proxy's
// (Level "proxy"), a proxy's for one site (Level "pair": Upstream and Site)
// or a site's (Level "site": Site alone). A pristine upstream (never
// tripped) is closed with Gen 0.
type Breaker struct {
	Level    string    `json:"level"`              // proxy, pair or site
	Upstream string    `json:"upstream"`           // the proxy's key, scheme://host:port ("" for a site)
	Site     string    `json:"site,omitempty"`     // the site of a pair or a site
	Phase    string    `json:"phase"`              // open, half-open or closed
	Gen      uint64    `json:"gen"`                // trip generation
	Origin   string    `json:"origin,omitempty"`   // the node that wrote the record
	Reason   string    `json:"reason,omitempty"`   // why it moved
	OpenFor  string    `json:"open_for,omitempty"` // open time remaining, e.g. "4m59s"
	HLC      uint64    `json:"hlc,omitempty"`      // hybrid logical clock of the record
	Time     time.Time `json:"time,omitzero"`      // the HLC's wall time
	Eligible bool      `json:"eligible"`           // a call would be admitted now
	InPool   bool      `json:"in_pool"`            // the upstream is in this node's pool
}

// TripRequest is the body of POST /v1/breakers/{upstream}/trip. For is a
// duration from 1s to 24h; empty or "0" means the policy's open time.
type TripRequest struct {
	For    string `json:"for,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Upstream is one entry of the pool. URL never carries the password.
type Upstream struct {
	Upstream    string            `json:"upstream"` // the key
	URL         string            `json:"url"`      // redacted
	Region      string            `json:"region,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Phase       string            `json:"phase"`
	Eligible    bool              `json:"eligible"`
	Outcomes    int               `json:"outcomes"`     // outcomes in the selection window
	SuccessRate float64           `json:"success_rate"` // over those outcomes
	MeanLatency string            `json:"mean_latency"` // over those outcomes
}

// AddRequest is the body of POST /v1/pool.
type AddRequest struct {
	URL  string            `json:"url"`
	Meta map[string]string `json:"meta,omitempty"`
}

// PoolUpdateRequest is the body of PATCH /v1/pool: upstreams added (or
// replacing those with the same key; of two with one key, the later) and
// keys or URLs removed, as one change.
type PoolUpdateRequest struct {
	Add    []AddRequest `json:"add,omitempty"`
	Remove []string     `json:"remove,omitempty"`
}

// PoolUpdate is the answer to PATCH /v1/pool: what the change did, against
// the node's pool as it stood just before.
type PoolUpdate struct {
	Added     int `json:"added"`     // keys that were not in the pool
	Replaced  int `json:"replaced"`  // keys whose URL or metadata changed
	Unchanged int `json:"unchanged"` // keys already in the pool as given
	Removed   int `json:"removed"`   // keys removed that were in the pool
}

// SelectRequest is the body of POST /v1/select.
type SelectRequest struct {
	Region  string   `json:"region,omitempty"`
	Site    string   `json:"site,omitempty"`    // the target site: an open site answers 503; pairs open for it are skipped
	Exclude []string `json:"exclude,omitempty"` // keys not to choose
}

// Selection is the answer of POST /v1/select. ProxyURL carries the
// upstream's credentials so that a thin client can dial it.
type Selection struct {
	Upstream string `json:"upstream"`
	ProxyURL string `json:"proxy_url"`
}

// ReportRequest is the body of POST /v1/report: the outcome of one attempt
// a thin client made through an upstream.
type ReportRequest struct {
	Upstream string `json:"upstream"`
	Site     string `json:"site,omitempty"`    // the target site: bans and failing statuses land on the (upstream, site) pair
	Outcome  string `json:"outcome"`           // success, failure or ban
	Status   int    `json:"status,omitempty"`  // HTTP status, 0 when none
	Latency  string `json:"latency,omitempty"` // e.g. "120ms"
}

// ReportResult is the answer of POST /v1/report: the upstream's breaker
// after the report.
type ReportResult struct {
	Upstream string `json:"upstream"`
	Phase    string `json:"phase"`
	Eligible bool   `json:"eligible"`
}

// HourStats aggregates one hour of attempts.
type HourStats struct {
	Hour             time.Time         `json:"hour"`
	Requests         uint64            `json:"requests"`
	Attempts         uint64            `json:"attempts"`
	Successes        uint64            `json:"successes"`
	SuccessByAttempt []uint64          `json:"success_by_attempt"` // [0] is attempt 1
	Failures         map[string]uint64 `json:"failures"`           // by reason, bans included
	MeanLatency      string            `json:"mean_latency"`
}

// Summary aggregates the hours the recorder keeps.
type Summary struct {
	HourStats
	Total       uint64  `json:"total"` // attempts ever recorded
	SuccessRate float64 `json:"success_rate"`
	Retried     uint64  `json:"retried"` // successes that needed more than one attempt
}

// ProxyStats aggregates one upstream over some hours.
type ProxyStats struct {
	Upstream    string  `json:"upstream"`
	Attempts    uint64  `json:"attempts"`
	Successes   uint64  `json:"successes"`
	Failures    uint64  `json:"failures"`
	Bans        uint64  `json:"bans"`
	SuccessRate float64 `json:"success_rate"`
	MeanLatency string  `json:"mean_latency"`
}

// Event is one recorded breaker transition.
type Event struct {
	Time     time.Time `json:"time"`
	Level    string    `json:"level"`          // proxy, pair or site
	Upstream string    `json:"upstream"`       // "" for a site
	Site     string    `json:"site,omitempty"` // the site of a pair or a site
	From     string    `json:"from"`
	To       string    `json:"to"`
	Gen      uint64    `json:"gen"`
	Source   string    `json:"source"` // local, manual, gossip or ledger
	Origin   string    `json:"origin"`
	Reason   string    `json:"reason,omitempty"`
}

// Transition is one change to the table as streamed by GET /v1/events:
// a breaker transition (Kind "breaker") or a pool or policy fact. Fact
// values are never streamed: a pool entry carries credentials.
type Transition struct {
	Kind     string    `json:"kind"`               // breaker, pool or policy
	Level    string    `json:"level,omitempty"`    // breakers: proxy, pair or site
	Upstream string    `json:"upstream,omitempty"` // the key (empty for policy and for a site)
	Site     string    `json:"site,omitempty"`     // breakers: the site of a pair or a site
	From     string    `json:"from,omitempty"`     // breakers: the phase left
	To       string    `json:"to,omitempty"`       // breakers: the phase entered
	Gen      uint64    `json:"gen,omitempty"`
	Source   string    `json:"source"`
	Origin   string    `json:"origin"`
	Reason   string    `json:"reason,omitempty"`
	OpenFor  string    `json:"open_for,omitempty"`
	Deleted  bool      `json:"deleted,omitempty"` // a pool entry removed
	HLC      uint64    `json:"hlc"`
	Time     time.Time `json:"time"`
}

// Key is one installed gossip key as GET /v1/keys lists it.
type Key struct {
	// Fingerprint identifies the key without revealing it: the first 8
	// hex digits of the SHA-256 of the raw key.
	Fingerprint string `json:"fingerprint"`
	// Primary is true for the key this node encrypts with.
	Primary bool `json:"primary"`
}

// KeyRequest is the body of POST /v1/keys, POST /v1/keys/use and
// DELETE /v1/keys: a base64 key of 16, 24 or 32 bytes.
type KeyRequest struct {
	Key string `json:"key"`
}

// Error codes of the API's JSON errors.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeNoUpstream       = "no_upstream"
	CodeNotReady         = "not_ready"
	CodeInternal         = "internal"
)

// Error is an error answered by the API: {"error":{"code","message"}} with
// an HTTP status. The Client returns it as *Error.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message with its code and status.
func (e *Error) Error() string {
	return e.Message + " (" + e.Code + ", HTTP " + strconv.Itoa(e.Status) + ")"
}

// ErrorBody is the JSON body of an API error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// CodeConflict is the error code of a key change the keyring refused
// (removing the primary key, using a key that is not installed, or a node
// without encryption).
const CodeConflict = "conflict"
