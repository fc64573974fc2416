package coord

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

// rawPassword returns what the writer of raw meant as the password: the
// text between the first ':' after "://" and the last '@', as redactRaw
// reads it, or "".
func rawPassword(raw string) string {
	at := strings.LastIndex(raw, "@")
	start := strings.Index(raw, "://")
	if at < 0 || start < 0 || start+3 > at {
		return ""
	}
	_, pw, ok := strings.Cut(raw[start+3:at], ":")
	if !ok {
		return ""
	}
	return pw
}

// secretPieces returns the pieces of a password that an error must not
// show: every run of at least 4 bytes between URL delimiters (a '/' or '?'
// in a password makes url.Parse read the rest as a path or query), unless
// the piece also appears in raw outside the password, where an error may
// legitimately quote it.
func secretPieces(raw, pw string) []string {
	if pw == "" {
		return nil
	}
	rest := strings.Replace(raw, pw, "\x00", 1)
	var out []string
	for _, p := range strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune("/?#@:%", r) }) {
		if len(p) >= 4 && !strings.Contains(rest, p) && !strings.Contains("xxxxx", p) {
			out = append(out, p)
		}
	}
	if dec, err := url.PathUnescape(pw); err == nil && dec != pw && len(dec) >= 4 && !strings.Contains(rest, dec) {
		out = append(out, dec)
	}
	return out
}

// FuzzParseUpstream: ParseUpstream never panics; an accepted URL has a key
// scheme://host:port without credentials that parses to itself; an error
// wraps ErrBadUpstream and never shows the password.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{
		"http://10.0.0.1:3128",
		"https://proxy.example.com",
		"socks5://user:s3cret-pass@[::1]:1080",
		"HTTP://User:Pa%40ss@Example.COM:8080/",
		"http://user:ab/cdefgh@10.0.0.1:1",
		"http://user:secret1/x@10.0.0.1:1",
		"http://user:1234#secret-pass@h:1",
		"http://user:1234?secret-pass@h",
		"http://user:pass word@h:1",
		"ftp://user:hunter2@h:21",
		"http://user:hunter2@[::1",
		"http://:8080",
		"http://h:1/path?q#f",
		" \thttp://h:99999\n",
		"soCks5://]",
		"http://a]b:1",
		"soCks5://0000::",
		"http://user:pw@h:1@evil:2",
		"socks5://%zz:%zz@h",
		"http://h:0",
		"http://h:65535",
		"http://h:65536",
		"socks5://[::1]:0",
		"https://user:pw@h:00080",
		"http://h:4294967377", // 80 modulo 2³²
		"http://h:99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseUpstream(PoolEntry{URL: raw, Meta: map[string]string{MetaRegion: "eu"}})
		if err != nil {
			if !errors.Is(err, ErrBadUpstream) {
				t.Fatalf("error %v does not wrap ErrBadUpstream", err)
			}
			for _, p := range secretPieces(raw, rawPassword(raw)) {
				if !strings.Contains(err.Error(), p) {
					continue
				}
				// The same URL with that piece blanked out: if its error
				// still holds the piece, it is the message's own wording
				// ("path" in "first path segment"), not the password.
				_, neutral := ParseUpstream(PoolEntry{URL: strings.ReplaceAll(raw, p, strings.Repeat("Z", len(p)))})
				if neutral == nil || !strings.Contains(neutral.Error(), p) {
					t.Fatalf("error %q shows the password piece %q of %q", err, p, raw)
				}
			}
			return
		}
		key := u.Key()
		scheme, hostport, ok := strings.Cut(key, "://")
		if !ok || (scheme != "http" && scheme != "https" && scheme != "socks5") {
			t.Fatalf("key %q: want scheme://host:port", key)
		}
		if strings.Contains(hostport, "@") {
			t.Fatalf("key %q of %q looks like it carries credentials", key, raw)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil || host == "" || port == "" {
			t.Fatalf("key %q: host:port: %v", key, err)
		}
		if ui := u.URL().User; ui != nil {
			if p, ok := ui.Password(); ok && len(p) >= 4 && strings.Contains(key, p) && !strings.Contains(host, p) {
				t.Fatalf("key %q shows the password", key)
			}
		}
		if u.Region() != "eu" {
			t.Fatalf("region = %q", u.Region())
		}
		// The dial URL (credentials included) parses to the same key.
		dial, err := ParseUpstream(u.Entry())
		if err != nil || dial.Key() != key {
			t.Fatalf("Entry URL of %q parses to %v, %v; want key %q", raw, dial, err, key)
		}
		if strings.Contains(host, "%") {
			// An IPv6 zone ("[fe80::1%eth0]") is kept unescaped in the key,
			// which is then not a URL itself; the dial URL still is.
			return
		}
		again, err := ParseUpstream(PoolEntry{URL: key})
		if err != nil {
			t.Fatalf("the key %q of %q does not parse: %v", key, raw, err)
		}
		if again.Key() != key {
			t.Fatalf("key %q parses to key %q", key, again.Key())
		}
	})
}

// TestParseUpstreamHidesPassword: the errors of ParseUpstream never show a
// password, even one whose unescaped '/', '?' or '#' makes url.Parse read
// part of it as the port, the path, the query or the fragment (found by
// FuzzParseUpstream).
func TestParseUpstreamHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"http://user:secret1/x@10.0.0.1:1",        // "secret1" read as the port
		"http://user:1234/secret-pass@h:1",        // read as the path
		"http://user:1234?secret-pass@h",          // the query
		"http://user:1234#secret-pass@h:1",        // the fragment
		"AAAA://:0#secret-pass@00",                // the fuzzer's find
		"http://user:secret-pass@a]b:1",           // a bad host
		"http:user:secret-pass@host",              // opaque
		"ftp://user:secret-pass@h:21",             // a plain bad scheme
		"http://user:secret-pass@h:1/path?q#frag", // a path after the credentials
	} {
		_, err := ParseUpstream(PoolEntry{URL: raw})
		if err == nil {
			t.Errorf("ParseUpstream(%q) accepted it", raw)
			continue
		}
		for _, secret := range []string{"secret", "1234"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseUpstream(%q) = %v: shows %q", raw, err, secret)
			}
		}
	}
}

// TestParseUpstreamBadHost: hosts that url.Parse lets through but that
// make no dial URL of their own are refused (found by FuzzParseUpstream);
// real IPv6 hosts, zones included, are not.
func TestParseUpstreamBadHost(t *testing.T) {
	for _, raw := range []string{"socks5://]", "http://a]b:1", "socks5://0000::", "http://h::"} {
		if u, err := ParseUpstream(PoolEntry{URL: raw}); !errors.Is(err, ErrBadUpstream) {
			t.Errorf("ParseUpstream(%q) = %v, %v; want ErrBadUpstream", raw, u, err)
		}
	}
	for raw, key := range map[string]string{
		"http://[::1]:80":                  "http://[::1]:80",
		"socks5://[FE80::1%25eth0]":        "socks5://[fe80::1%eth0]:1080",
		"https://user:p%40ss@Example.COM/": "https://example.com:443",
		"http://[2001:db8::1]:3128":        "http://[2001:db8::1]:3128",
	} {
		u, err := ParseUpstream(PoolEntry{URL: raw})
		if err != nil || u.Key() != key {
			t.Errorf("ParseUpstream(%q) = %v, %v; want key %q", raw, u, err, key)
		}
	}
}
