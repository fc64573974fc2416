package testproxy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFault reads a fault as String writes it, or in the short forms an
// operator types: "healthy", "refuse", "status 502" (or "502"), "407",
// "hang 5s", "slow 100ms", "ban 403" (or "ban 429").
func ParseFault(s string) (Fault, error) {
	word, arg, _ := strings.Cut(strings.TrimSpace(strings.ToLower(s)), " ")
	arg = strings.TrimSpace(arg)
	code := func(lo, hi int) (int, error) {
		n, err := strconv.Atoi(arg)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("testproxy: fault %q: want a status %d–%d", s, lo, hi)
		}
		return n, nil
	}
	dur := func() (time.Duration, error) {
		if arg == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("testproxy: fault %q: want a duration such as 100ms", s)
		}
		return d, nil
	}
	switch word {
	case "healthy", "ok":
		return Healthy(), nil
	case "refuse":
		return Refuse(), nil
	case "407", "proxy-auth":
		return ProxyAuth(), nil
	case "status":
		n, err := code(400, 599)
		return Status(n), err
	case "ban":
		n, err := code(400, 499)
		return Ban(n), err
	case "hang":
		d, err := dur()
		return Hang(d), err
	case "slow":
		d, err := dur()
		return Slow(d), err
	}
	if n, err := strconv.Atoi(word); err == nil && arg == "" && n >= 400 && n <= 599 {
		return Status(n), nil
	}
	return Fault{}, fmt.Errorf("testproxy: unknown fault %q (want healthy, refuse, status N, 407, hang D, slow D or ban N)", s)
}
