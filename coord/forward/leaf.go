package forward

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Interception's leaf certificates.
const (
	DefaultLeafValidity = 24 * time.Hour
	DefaultMaxLeaves    = 1024
)

// leafCache issues the leaf certificates shown to intercepted clients,
// signed by the CA: ECDSA P-256 (one key for every leaf, made at start),
// valid for validity (never past the CA), and keeps the most recently used
// maxLeaves of them. A leaf is reissued once half its validity has passed.
// It is safe for concurrent use.
type leafCache struct {
	ca       *CA
	key      *ecdsa.PrivateKey
	validity time.Duration
	max      int
	now      func() time.Time
	issued   atomic.Uint64

	mu    sync.Mutex // guards byKey and lru
	byKey map[string]*list.Element
	lru   *list.List // of *leafEntry, most recent first
}

type leafEntry struct {
	name  string
	cert  *tls.Certificate
	renew time.Time // reissue from then on
}

func newLeafCache(ca *CA, validity time.Duration, max int, now func() time.Time) (*leafCache, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("forward: leaf key: %w", err)
	}
	return &leafCache{ca: ca, key: key, validity: validity, max: max, now: now,
		byKey: map[string]*list.Element{}, lru: list.New()}, nil
}

// get returns the leaf for name (a host name or an IP literal, lower
// case), issuing it when the cache has none that is fresh.
func (lc *leafCache) get(name string) (*tls.Certificate, error) {
	now := lc.now()
	lc.mu.Lock()
	if el, ok := lc.byKey[name]; ok {
		e := el.Value.(*leafEntry)
		if now.Before(e.renew) {
			lc.lru.MoveToFront(el)
			lc.mu.Unlock()
			return e.cert, nil
		}
	}
	lc.mu.Unlock()
	cert, renew, err := lc.issue(name, now)
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if el, ok := lc.byKey[name]; ok {
		el.Value = &leafEntry{name: name, cert: cert, renew: renew}
		lc.lru.MoveToFront(el)
		return cert, nil
	}
	lc.byKey[name] = lc.lru.PushFront(&leafEntry{name: name, cert: cert, renew: renew})
	for lc.lru.Len() > lc.max {
		old := lc.lru.Back()
		lc.lru.Remove(old)
		delete(lc.byKey, old.Value.(*leafEntry).name)
	}
	return cert, nil
}

// len returns how many leaves the cache holds.
func (lc *leafCache) len() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.lru.Len()
}

func (lc *leafCache) issue(name string, now time.Time) (*tls.Certificate, time.Time, error) {
	ca := lc.ca.cert
	notBefore := now.Add(-time.Hour) // clients' clocks run a little behind
	if notBefore.Before(ca.NotBefore) {
		notBefore = ca.NotBefore
	}
	notAfter := now.Add(lc.validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	if !notAfter.After(now) {
		return nil, time.Time{}, fmt.Errorf("forward: the interception CA expired on %s", ca.NotAfter.UTC().Format(time.DateOnly))
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"retrycoord interception"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &lc.key.PublicKey, lc.ca.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("forward: issuing a leaf for %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("forward: issuing a leaf for %s: %w", name, err)
	}
	lc.issued.Add(1)
	cert := &tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: lc.key, Leaf: leaf}
	return cert, now.Add(notAfter.Sub(now) / 2), nil
}

// normalHost returns host in lower case without a trailing dot or IPv6
// brackets.
func normalHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
