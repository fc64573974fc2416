package forward

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of certMemo.
const (
	certMemoTTL     = 10 * time.Minute // how long a verdict's evidence counts
	certMemoHosts   = 4096             // hosts remembered; an arbitrary one goes when full
	certMemoPerHost = 8                // upstreams remembered per bad certificate
)

// Verdicts; verdictCount bounds them.
const (
	verdictUnknown verdict = iota
	verdictProxy
	verdictSite
	verdictCount
)

// verdict is whose fault an origin certificate that did not verify is.
type verdict uint8

var verdictNames = [verdictCount]string{"unknown", "proxy", "site"}

// certMemo remembers, per origin host, when its certificate last verified
// and which upstreams presented which bad certificate, to judge a
// certificate that does not verify through an upstream:
//
//   - the host verified through some upstream within the TTL: this
//     upstream presented a wrong certificate (it intercepts TLS itself):
//     the proxy's fault;
//   - the same bad certificate came through another upstream: the site's
//     (expired, self-signed, wrong name everywhere);
//   - else unknown: retried elsewhere and counted against nobody; if the
//     host then verifies through another upstream, the upstreams that
//     presented the bad certificate are blamed after all (good returns
//     them).
//
// It is safe for concurrent use.
type certMemo struct {
	mu     sync.Mutex // guards hosts
	hosts  map[string]*hostCert
	counts [verdictCount]atomic.Uint64
}

type hostCert struct {
	goodAt time.Time
	badFP  [sha256.Size]byte
	badAt  time.Time
	badBy  []string // upstreams that presented badFP, verdict pending
	site   bool     // badFP was judged the site's
}

func newCertMemo() *certMemo { return &certMemo{hosts: map[string]*hostCert{}} }

func (m *certMemo) entryLocked(host string) *hostCert {
	if h, ok := m.hosts[host]; ok {
		return h
	}
	if len(m.hosts) >= certMemoHosts {
		for k := range m.hosts {
			delete(m.hosts, k)
			break
		}
	}
	h := &hostCert{}
	m.hosts[host] = h
	return h
}

// good notes that host verified through upstream key at now, and returns
// the other upstreams that presented a bad certificate for it, pending a
// verdict: theirs was the fault.
func (m *certMemo) good(host, key string, now time.Time) []string {
	m.mu.Lock()
	h := m.entryLocked(host)
	h.goodAt = now
	var blame []string
	if !h.site && now.Sub(h.badAt) < certMemoTTL {
		for _, k := range h.badBy {
			if k != key {
				blame = append(blame, k)
			}
		}
	}
	h.badBy, h.site, h.badFP, h.badAt = nil, false, [sha256.Size]byte{}, time.Time{}
	m.mu.Unlock()
	m.counts[verdictProxy].Add(uint64(len(blame)))
	return blame
}

// bad judges a certificate with fingerprint fp for host that did not
// verify through upstream key at now. For verdictSite it also returns how
// many upstreams presented it.
func (m *certMemo) bad(host, key string, fp [sha256.Size]byte, now time.Time) (int, verdict) {
	m.mu.Lock()
	h := m.entryLocked(host)
	v, n := verdictUnknown, 0
	fresh := h.badFP == fp && now.Sub(h.badAt) < certMemoTTL
	switch {
	case !h.goodAt.IsZero() && now.Sub(h.goodAt) < certMemoTTL:
		v = verdictProxy
	case fresh && (h.site || slices.ContainsFunc(h.badBy, func(k string) bool { return k != key })):
		v, n = verdictSite, len(h.badBy)
		if !slices.Contains(h.badBy, key) {
			n++
			if len(h.badBy) < certMemoPerHost {
				h.badBy = append(h.badBy, key)
			}
		}
		h.site, h.badAt = true, now
	default:
		if !fresh {
			h.badFP, h.badBy, h.site = fp, h.badBy[:0], false
		}
		if !slices.Contains(h.badBy, key) && len(h.badBy) < certMemoPerHost {
			h.badBy = append(h.badBy, key)
		}
		h.badAt = now
	}
	m.mu.Unlock()
	m.counts[v].Add(1)
	return n, v
}

func (m *certMemo) stats() map[string]uint64 {
	out := make(map[string]uint64, verdictCount)
	for i := range m.counts {
		out[verdictNames[i]] = m.counts[i].Load()
	}
	return out
}
