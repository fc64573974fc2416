package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api"
)

func newAdminTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeMembers(w io.Writer, ms []api.Member) error {
	tw := newAdminTable(w)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tNETWORK SUSPECT")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, dash(m.Addr), dash(m.State), yesNo(m.Suspect))
	}
	return tw.Flush()
}

func writeBreakers(w io.Writer, bs []api.Breaker) error {
	tw := newAdminTable(w)
	fmt.Fprintln(tw, "LEVEL\tUPSTREAM\tSITE\tPHASE\tGEN\tOPEN FOR\tELIGIBLE\tORIGIN\tREASON")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", dash(b.Level), dash(b.Upstream), dash(b.Site), b.Phase, b.Gen, openFor(b),
			yesNo(b.Eligible), dash(b.Origin), dash(b.Reason))
	}
	return tw.Flush()
}

// openFor is the OPEN FOR column: the open time left; while the phase is
// open past its open time, the probe is due (never "-" while open).
func openFor(b api.Breaker) string {
	if b.OpenFor == "" && b.Phase == "open" {
		return "0s (probe due)"
	}
	return dash(b.OpenFor)
}

// auth is the user information of a redacted URL ("bob:xxxxx"), or "-".
func auth(redacted string) string {
	u, err := url.Parse(redacted)
	if err != nil || u.User == nil {
		return "-"
	}
	return u.User.String()
}

// roundLatency shows a latency to three figures or so: 412µs, 1.2ms,
// 35.1ms, 1.23s. What does not parse is shown as it came.
func roundLatency(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	switch {
	case d >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(100 * time.Microsecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

// writePool lists upstreams by key, the name every other command takes;
// the URL would repeat it, so only its credentials are shown, as AUTH
// (user:xxxxx, the password redacted by the API).
func writePool(w io.Writer, us []api.Upstream) error {
	tw := newAdminTable(w)
	fmt.Fprintln(tw, "UPSTREAM\tAUTH\tREGION\tPHASE\tSUCCESS\tLATENCY\tMETA")
	for _, u := range us {
		var meta []string
		for k, v := range u.Meta {
			if k != "region" {
				meta = append(meta, k+"="+v)
			}
		}
		success := "-"
		if u.Outcomes > 0 {
			success = fmt.Sprintf("%.0f%% of %d", 100*u.SuccessRate, u.Outcomes)
		}
		lat := roundLatency(u.MeanLatency)
		if u.Outcomes == 0 {
			lat = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Upstream, auth(u.URL), dash(u.Region), u.Phase,
			success, lat, dash(strings.Join(sortedStrings(meta), ",")))
	}
	return tw.Flush()
}

// oneLine joins a message's lines, so that it prints on one.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

// transitionLine formats one streamed transition for "watch".
func transitionLine(tr api.Transition) string {
	ts := tr.Time.Local().Format(time.TimeOnly)
	if tr.Time.IsZero() {
		ts = time.Now().Format(time.TimeOnly)
	}
	switch tr.Kind {
	case "breaker":
		// A proxy as before sites; a pair as "upstream site=S"; a site as "site=S".
		what := tr.Upstream
		switch {
		case tr.Site != "" && tr.Upstream != "":
			what += "  site=" + tr.Site
		case tr.Site != "":
			what = "site=" + tr.Site
		}
		s := fmt.Sprintf("%s  breaker  %s  %s -> %s  gen=%d  origin=%s  source=%s", ts, what, tr.From, tr.To, tr.Gen, tr.Origin, tr.Source)
		if tr.OpenFor != "" {
			s += "  for=" + tr.OpenFor
		}
		if tr.Reason != "" {
			s += fmt.Sprintf("  reason=%q", tr.Reason)
		}
		return s
	case "pool":
		verb := "added"
		if tr.Deleted {
			verb = "removed"
		}
		return fmt.Sprintf("%s  pool     %s  %s  origin=%s  source=%s", ts, tr.Upstream, verb, tr.Origin, tr.Source)
	}
	return fmt.Sprintf("%s  %-7s  changed  origin=%s  source=%s", ts, tr.Kind, tr.Origin, tr.Source)
}
