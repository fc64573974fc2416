package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPoolLoad: `pool load` sends a pool file as one change — added, then
// unchanged when loaded again, the rest removed with --replace — refuses a
// file with a bad line naming it, and one with no upstream (which would
// empty the pool with --replace), changing nothing; reads standard input
// for -, and never prints a password.
func TestPoolLoad(t *testing.T) {
	a := newAdminAgent(t, nil)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool := func() []string {
		var keys []string
		for _, u := range a.c.Upstreams() {
			keys = append(keys, u.Key()+" "+u.Region())
		}
		return keys
	}
	list := write("list.txt", "# from the vendor\n"+
		"http://amy:hunter2@127.0.0.1:9 region=ap\n"+
		"http://127.0.0.1:10   region=us # second\n")
	bad := write("bad.txt", "http://127.0.0.1:11\nhttp://amy:hunter2@127.0.0.1:99999\n")
	start := pool()

	for _, step := range []struct {
		name  string
		args  []string
		stdin string
		want  string // the output, or a part of the error
		isErr bool
		pool  []string
	}{
		{"load", []string{"pool", "load", list}, "", "added 2, replaced 0, unchanged 0, removed 0\n", false,
			append(slices.Clone(start), "http://127.0.0.1:9 ap", "http://127.0.0.1:10 us")},
		{"again", []string{"pool", "load", list}, "", "added 0, replaced 0, unchanged 2, removed 0\n", false,
			append(slices.Clone(start), "http://127.0.0.1:9 ap", "http://127.0.0.1:10 us")},
		{"bad line", []string{"pool", "load", bad}, "", `line 2: "http://amy:xxxxx@127.0.0.1:99999"`, true,
			append(slices.Clone(start), "http://127.0.0.1:9 ap", "http://127.0.0.1:10 us")},
		{"no upstream, replacing", []string{"pool", "load", "-", "--replace"}, "# only a comment\n\n", "the file holds no upstream", true,
			append(slices.Clone(start), "http://127.0.0.1:9 ap", "http://127.0.0.1:10 us")},
		{"stdin, replacing", []string{"pool", "load", "-", "--replace", "--json"}, "http://zed:hunter2@127.0.0.1:10 region=eu\n",
			`"replaced": 1,`, false, []string{"http://127.0.0.1:10 eu"}},
	} {
		out, err := a.run(t, nil, step.stdin, step.args...)
		switch {
		case step.isErr && (err == nil || !strings.Contains(err.Error(), step.want)):
			t.Fatalf("%s: error %v, want one containing %q", step.name, err, step.want)
		case !step.isErr && err != nil:
			t.Fatalf("%s: %v; output %s", step.name, err, out)
		case !step.isErr && !strings.Contains(out, step.want):
			t.Fatalf("%s: output %q, want %q in it", step.name, out, step.want)
		}
		for _, secret := range []string{"hunter2", adminSecret, adminTestToken} {
			if strings.Contains(out, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
				t.Fatalf("%s: a secret shows: %s %v", step.name, out, err)
			}
		}
		got, want := pool(), step.pool
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: pool %v, want %v", step.name, got, want)
		}
	}
	if u := a.c.Upstream("http://127.0.0.1:10"); u == nil || !maps.Equal(u.Meta(), map[string]string{"region": "eu"}) {
		t.Fatalf("after the last load: %v", u)
	}
}
