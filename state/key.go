package state

import "strconv"

// Level says which thing a breaker blames: a proxy, one proxy for one site
// (a pair), or a site. Levels are wire values: they start at 1 and are
// append-only. The node level (the poison guard of package cluster) has no
// breaker in a Table; LevelNode exists so that reports can name it.
type Level uint8

const (
	LevelProxy Level = 1 // a proxy: cannot reach it, 407, CONNECT refused; or roll-up of its pairs
	LevelPair  Level = 2 // a proxy for one site: bans, the site's failing statuses and timeouts
	LevelSite  Level = 3 // a site, through every proxy: roll-up of its pairs
	LevelNode  Level = 4 // this node's own network (the poison guard); never a Key
)

// String returns "proxy", "pair", "site", "node", or "level(N)".
func (l Level) String() string {
	switch l {
	case LevelProxy:
		return "proxy"
	case LevelPair:
		return "pair"
	case LevelSite:
		return "site"
	case LevelNode:
		return "node"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// ParseLevel returns the level named by s ("proxy", "pair", "site",
// "node"), and false for anything else.
func ParseLevel(s string) (Level, bool) {
	for l := LevelProxy; l <= LevelNode; l++ {
		if l.String() == s {
			return l, true
		}
	}
	return 0, false
}

// MarshalText returns the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Key names a breaker. Its level follows from which fields are set: Proxy
// alone is a proxy's breaker, Proxy and Site a pair's, Site alone a site's.
// The zero Key names nothing. A Key is a comparable value: Tables use it as
// a map key without building strings.
type Key struct {
	Proxy string // the upstream proxy's key (its URL without credentials)
	Site  string // the target site, e.g. "example.com"
}

// ProxyKey, PairKey and SiteKey build the key of each level.
func ProxyKey(proxy string) Key      { return Key{Proxy: proxy} }
func PairKey(proxy, site string) Key { return Key{Proxy: proxy, Site: site} }
func SiteKey(site string) Key        { return Key{Site: site} }

// Level returns the key's level, or 0 for the zero Key.
func (k Key) Level() Level {
	switch {
	case k.Proxy != "" && k.Site != "":
		return LevelPair
	case k.Proxy != "":
		return LevelProxy
	case k.Site != "":
		return LevelSite
	}
	return 0
}

// String returns a name unique to the key, for logs, probe ownership and
// storage keys: the proxy for a proxy (as before sites existed), "site:"
// and the site for a site, the proxy then " site:" and the site for a pair.
// Proxy keys are URLs and site names hold no spaces, so two keys never
// share a string.
func (k Key) String() string {
	switch k.Level() {
	case LevelPair:
		return k.Proxy + " site:" + k.Site
	case LevelSite:
		return "site:" + k.Site
	}
	return k.Proxy
}

// Key returns the key of the breaker a record is about: Upstream and Site.
func (r Record) Key() Key { return Key{Proxy: r.Upstream, Site: r.Site} }
