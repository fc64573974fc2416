package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// sleep is what every wake-up is measured against.
const sleep = time.Millisecond

// bounds are the lateness thresholds counted apart.
var bounds = []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}

// tally counts late wake-ups.
type tally struct {
	sleeps    int
	over      []int // over[i]: wake-ups late by bounds[i] or more
	worst     time.Duration
	worstAt   time.Time
	listLate  time.Duration // print each wake-up late by this much or more (0: none)
	listTo    io.Writer
	totalLate time.Duration
}

func newTally(list time.Duration, w io.Writer) *tally {
	return &tally{over: make([]int, len(bounds)), listLate: list, listTo: w}
}

// note records a sleep that ended at now after gap (asked: sleep).
func (t *tally) note(now time.Time, gap time.Duration) {
	t.sleeps++
	late := max(gap-sleep, 0)
	t.totalLate += late
	for i, b := range bounds {
		if late >= b {
			t.over[i]++
		}
	}
	if late > t.worst {
		t.worst, t.worstAt = late, now
	}
	if t.listLate > 0 && late >= t.listLate {
		fmt.Fprintf(t.listTo, "%s  late %.2fms\n", now.Format("15:04:05.000"), ms(late))
	}
}

// report writes the summary.
func (t *tally) report(w io.Writer, d time.Duration) {
	fmt.Fprintf(w, "stallmeter: %v, %d sleeps of %v\n", d, t.sleeps, sleep)
	if t.sleeps == 0 {
		return
	}
	for i, b := range bounds {
		fmt.Fprintf(w, "  late by ≥ %-5v %6d\n", b, t.over[i])
	}
	fmt.Fprintf(w, "  mean lateness   %.3fms\n", ms(t.totalLate)/float64(t.sleeps))
	if t.worst > 0 {
		fmt.Fprintf(w, "  worst           %.2fms at %s\n", ms(t.worst), t.worstAt.Format("15:04:05.000"))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func main() {
	d := flag.Duration("d", 20*time.Second, "how long to measure")
	list := flag.Duration("list", 0, "also print every wake-up late by at least this much, with its time (e.g. 5ms)")
	flag.Parse()
	if *d <= 0 {
		fmt.Fprintln(os.Stderr, "stallmeter: -d must be positive")
		os.Exit(2)
	}
	runtime.LockOSThread()
	t := newTally(*list, os.Stdout)
	end := time.Now().Add(*d)
	prev := time.Now()
	for prev.Before(end) {
		time.Sleep(sleep)
		now := time.Now()
		t.note(now, now.Sub(prev))
		prev = now
	}
	t.report(os.Stdout, *d)
}
