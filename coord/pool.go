package coord

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/proxywhirl/retrycoord/state"
)

// PoolEntry is an upstream proxy as configured: its URL (http, https or
// socks5, credentials allowed) and free-form metadata. The "region" key is
// used by selection. On the fleet it travels as the JSON {"url", "meta"}.
type PoolEntry struct {
	URL  string            `json:"url"`
	Meta map[string]string `json:"meta,omitempty"`
}

// Entries returns a PoolEntry without metadata for each URL.
func Entries(urls ...string) []PoolEntry {
	out := make([]PoolEntry, len(urls))
	for i, u := range urls {
		out[i] = PoolEntry{URL: u}
	}
	return out
}

// MetaRegion is the metadata key of an upstream's region.
const MetaRegion = "region"

// Upstream is one proxy of the pool. Its Key, URL and metadata never change;
// its outcome statistics are updated by every attempt through it. It is safe
// for concurrent use.
type Upstream struct {
	// Read by every selection, written once (or once an hour): apart from
	// stats, which every attempt through the upstream writes, so that a
	// core choosing an upstream does not wait for the line another core
	// just wrote an outcome to.
	key    string
	url    *url.URL // with credentials: for dialing only
	meta   map[string]string
	region string
	ref    state.ProxyRef // its breaker in the coordinator's Table
	// recHints: per recorder shard, where the Recorder aggregates this
	// upstream's attempts this hour.
	recHints [recShards]atomic.Pointer[recHint]

	_     [64]byte
	stats stats
	_     [64]byte
}

// Key returns the upstream's key, "scheme://host:port", without credentials.
// Breakers, facts, metrics and logs name upstreams by it.
func (u *Upstream) Key() string { return u.key }

// URL returns the URL to dial the upstream with, credentials included. It is
// shared: do not modify it, and never log it (log Key instead).
func (u *Upstream) URL() *url.URL { return u.url }

// Region returns the upstream's "region" metadata, or "".
func (u *Upstream) Region() string { return u.region }

// Meta returns a copy of the upstream's metadata.
func (u *Upstream) Meta() map[string]string { return maps.Clone(u.meta) }

// Entry returns the upstream as a PoolEntry, credentials included.
func (u *Upstream) Entry() PoolEntry { return PoolEntry{URL: u.url.String(), Meta: u.Meta()} }

// String returns the key.
func (u *Upstream) String() string { return u.key }

// redact removes the upstream's password from s.
func (u *Upstream) redact(s string) string {
	if u == nil || u.url.User == nil {
		return s
	}
	if p, ok := u.url.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
		s = strings.ReplaceAll(s, url.QueryEscape(p), "xxxxx")
	}
	return s
}

// ErrBadUpstream is wrapped by the errors of ParseUpstream.
var ErrBadUpstream = errors.New("coord: bad upstream URL")

// ParseUpstream parses a pool entry into an Upstream. The URL must be
// absolute with scheme http, https or socks5 and a host; a missing port
// defaults to 80, 443 and 1080, and a given one must be within 1–65535
// (leading zeros are dropped from the key). The error wraps ErrBadUpstream
// and names the URL with its password redacted.
func ParseUpstream(e PoolEntry) (*Upstream, error) {
	u, err := url.Parse(strings.TrimSpace(e.URL))
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadUpstream, redactRaw(e.URL), redactErr(err))
	}
	shown := u.Redacted()
	if strings.Contains(u.Opaque+u.Path+u.RawQuery+u.Fragment, "@") {
		// An unescaped '/', '?' or '#' in a password ends the authority:
		// the rest of the password is in what Redacted shows.
		shown = redactRaw(strings.TrimSpace(e.URL))
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	case "socks5":
		port = "1080"
	default:
		return nil, fmt.Errorf("%w %q: scheme %q not supported (want http, https or socks5)", ErrBadUpstream, shown, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w %q: no host", ErrBadUpstream, shown)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: a proxy URL has no path, query or fragment", ErrBadUpstream, shown)
	}
	if p := u.Port(); p != "" {
		// url.Parse checks that a port is digits, not that it is one.
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w %q: port out of range 1–65535", ErrBadUpstream, shown)
		}
		port = strconv.Itoa(n)
	}
	hostport := net.JoinHostPort(strings.ToLower(u.Hostname()), port)
	dial := &url.URL{Scheme: u.Scheme, User: u.User, Host: hostport}
	// url.Parse lets a stray ']' through ("http://a]b:1") and reads
	// "h::" as host "h:" with an empty port; neither makes a dial URL that
	// parses again (on this node or on the peers the pool fact reaches).
	_, _, splitErr := net.SplitHostPort(hostport)
	if again, err := url.Parse(dial.String()); splitErr != nil || err != nil || again.Host != hostport {
		return nil, fmt.Errorf("%w %q: bad host %q", ErrBadUpstream, shown, u.Hostname())
	}
	up := &Upstream{
		key:    u.Scheme + "://" + hostport,
		url:    dial,
		meta:   maps.Clone(e.Meta),
		region: e.Meta[MetaRegion],
	}
	return up, nil
}

// redactRaw hides what looks like a password in a URL that did not parse.
func redactRaw(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := strings.Index(s, "://")
	if start < 0 || start+3 > at {
		start = -3
	}
	creds := s[start+3 : at]
	if i := strings.Index(creds, ":"); i >= 0 {
		return s[:start+3] + creds[:i] + ":xxxxx" + s[at:]
	}
	return s
}

// redactErr keeps url.Parse's reason but neither the URL nor the piece
// of it that the reason quotes: with an unescaped '/', '?' or '#' in a
// password, url.Parse reads "user:pass" as the host and quotes ":pass" as
// an invalid port.
func redactErr(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "invalid URL"
	}
	msg := ue.Err.Error()
	if i, j := strings.Index(msg, ` "`), strings.LastIndex(msg, `"`); i >= 0 && j > i+1 {
		msg = msg[:i] + msg[j+1:]
	}
	return msg
}

// pool is the set of upstreams: an immutable snapshot read without locks,
// replaced copy-on-write under mu.
type pool struct {
	mu   sync.Mutex // guards writers of snap
	snap atomic.Pointer[poolSnap]
}

type poolSnap struct {
	list  []*Upstream // sorted by key
	byKey map[string]*Upstream
}

func newPool() *pool {
	p := &pool{}
	p.snap.Store(&poolSnap{byKey: map[string]*Upstream{}})
	return p
}

func (p *pool) load() *poolSnap { return p.snap.Load() }

// put adds or replaces an upstream. An upstream with the same key, URL and
// metadata is kept (with its statistics); it reports whether anything
// changed.
func (p *pool) put(u *Upstream, window int) bool {
	return p.apply([]*Upstream{u}, nil, window).changed()
}

// remove removes an upstream by key; it reports whether it was there.
func (p *pool) remove(key string) bool { return p.apply(nil, []string{key}, 0).Removed > 0 }

// apply removes the upstreams with the given keys, then puts each of puts
// in order (a later one with the same key wins), as remove and put would
// one by one, and counts what they would have done; but it makes one new
// snapshot for all of them: a pool of n loaded one upstream at a time
// would copy and sort n snapshots: 10 s for 10,000 upstreams, some 20
// minutes for 100,000. The new snapshot's list is the old one with the
// removed left out and the replaced swapped in place, merged with the
// added, sorted among themselves.
func (p *pool) apply(puts []*Upstream, removes []string, window int) PoolChanged {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.load()
	var done PoolChanged
	var next map[string]*Upstream // made on the first change
	lookup := func(k string) *Upstream {
		if next != nil {
			return next[k]
		}
		return cur.byKey[k]
	}
	change := func() {
		if next == nil {
			next = maps.Clone(cur.byKey)
		}
	}
	for _, k := range removes {
		if lookup(k) != nil {
			change()
			delete(next, k)
			done.Removed++
		}
	}
	for _, u := range puts {
		old := lookup(u.key)
		switch {
		case old == nil:
			done.Added++
		case old.url.String() == u.url.String() && maps.Equal(old.meta, u.meta):
			done.Unchanged++
			continue
		default:
			done.Replaced++
			u.stats.copyFrom(&old.stats)
		}
		u.stats.init(window)
		change()
		next[u.key] = u
	}
	if next == nil {
		return done
	}
	list := make([]*Upstream, 0, len(next))
	for _, u := range cur.list {
		if v := next[u.key]; v != nil {
			list = append(list, v)
		}
	}
	var added []*Upstream
	for k, u := range next {
		if cur.byKey[k] == nil {
			added = append(added, u)
		}
	}
	byKey := func(a, b *Upstream) int { return strings.Compare(a.key, b.key) }
	slices.SortFunc(added, byKey)
	p.snap.Store(&poolSnap{byKey: next, list: mergeSorted(list, added, byKey)})
	return done
}

// mergeSorted returns a and b, both sorted by cmp, merged into a new
// slice (a itself when b is empty).
func mergeSorted[T any](a, b []T, cmp func(x, y T) int) []T {
	if len(b) == 0 {
		return a
	}
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// entryValue encodes a pool entry as a fact value.
func entryValue(u *Upstream) []byte {
	b, _ := json.Marshal(u.Entry()) // strings and a map of strings: cannot fail
	return b
}

// parseEntryValue decodes a fact value.
func parseEntryValue(b []byte) (PoolEntry, error) {
	var e PoolEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return PoolEntry{}, fmt.Errorf("coord: bad pool fact: %w", err)
	}
	return e, nil
}
