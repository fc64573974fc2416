package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/proxywhirl/retrycoord/coord"
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
// Errors name the line and quote it whole, its password hidden, with what
// is wrong; an upstream without a scheme is asked whether http:// was meant.
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
		lineErr := func(format string, args ...any) {
			shown := strings.Join(append([]string{redactURL(fields[0])}, fields[1:]...), " ")
			errs = append(errs, fmt.Errorf("line %d: %q: %s", n, shown, fmt.Sprintf(format, args...)))
		}
		if err := checkScheme(fields[0]); err != nil {
			lineErr("no scheme: did you mean http://%s?", redactUserinfo(fields[0]))
			continue
		}
		if _, err := coord.ParseUpstream(coord.PoolEntry{URL: fields[0]}); err != nil {
			lineErr("%s", upstreamProblem(err))
			continue
		}
		for _, kv := range fields[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				lineErr("metadata %q: want key=value", kv)
				continue
			}
			if pl.Meta == nil {
				pl.Meta = make(map[string]string)
			}
			if _, dup := pl.Meta[k]; dup {
				lineErr("metadata %s is set twice", k)
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
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// redactURL hides the password of a proxy URL that may not parse.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return redactUserinfo(raw)
	}
	return scheme + "://" + redactUserinfo(rest)
}

// upstreamProblem is what coord.ParseUpstream found wrong, without its
// package prefix and without the URL, which the caller quotes itself.
func upstreamProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "coord: ")
	if rest, ok := strings.CutPrefix(msg, "bad upstream URL "); ok {
		if _, why, ok := strings.Cut(rest, `": `); ok {
			return why
		}
	}
	return msg
}
