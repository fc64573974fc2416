package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// poolLine is one upstream read from a pool file.
type poolLine struct {
	URL  string            // as written, credentials included
	Meta map[string]string // key=value metadata, e.g. region=us-east
	Line int               // 1-based line number, for errors
}

// maxPoolLine bounds one line of a pool file.
const maxPoolLine = 64 << 10

// parsePoolFile reads a pool file: one proxy URL a line, optionally followed
// by key=value metadata separated by spaces; blank lines and everything after
// a # are ignored.
//
//	# US proxies
//	http://user:pass@10.0.0.1:3128 region=us-east tier=premium
//	socks5://10.0.0.2:1080         region=us-west
//
// Errors name the line and never repeat a password.
func parsePoolFile(r io.Reader) ([]poolLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxPoolLine)
	var out []poolLine
	var errs []error
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		pl := poolLine{URL: fields[0], Line: n}
		if err := checkProxyURL(fields[0]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		for _, kv := range fields[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				errs = append(errs, fmt.Errorf("line %d: metadata %q: want key=value", n, kv))
				continue
			}
			if pl.Meta == nil {
				pl.Meta = make(map[string]string)
			}
			if _, dup := pl.Meta[k]; dup {
				errs = append(errs, fmt.Errorf("line %d: metadata %s is set twice", n, k))
				continue
			}
			pl.Meta[k] = v
		}
		out = append(out, pl)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxPoolLine)
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("pool file: %w", errors.Join(errs...))
	}
	return out, nil
}

// checkProxyURL reports what is wrong with a proxy URL, without its password.
func checkProxyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("proxy URL %s does not parse", redactURL(raw))
	}
	switch u.Scheme {
	case "http", "https", "socks5":
	default:
		return fmt.Errorf("proxy URL %s: scheme must be http, https or socks5", u.Redacted())
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("proxy URL %s: want scheme://host:port", u.Redacted())
	}
	return nil
}

// redactURL hides everything between "://" and the last "@" of a URL that
// does not parse, where a password would be.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "(unparseable, redacted)"
		}
		return strings.ToValidUTF8(raw, "?")
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "xxxxx@" + rest[i+1:]
	}
	return strings.ToValidUTF8(scheme+"://"+rest, "?")
}
