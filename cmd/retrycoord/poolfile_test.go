package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/coord"
)

func TestParsePoolFile(t *testing.T) {
	got, err := parsePoolFile(strings.NewReader(`
# US proxies
http://user:s3cret@10.0.0.1:3128 region=us-east tier=premium
  socks5://10.0.0.2:1080   region=us-west   # trailing comment

https://10.0.0.3:443
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []poolLine{
		{URL: "http://user:s3cret@10.0.0.1:3128", Meta: map[string]string{"region": "us-east", "tier": "premium"}, Line: 3},
		{URL: "socks5://10.0.0.2:1080", Meta: map[string]string{"region": "us-west"}, Line: 4},
		{URL: "https://10.0.0.3:443", Line: 6},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestParsePoolFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bad scheme", "ftp://10.0.0.1:21 region=eu\n", `line 1: "ftp://10.0.0.1:21 region=eu": scheme "ftp" not supported`},
		{"no scheme", "  user:hunter2@10.0.0.1:3128   region=eu # x\n", `line 1: "user:xxxxx@10.0.0.1:3128 region=eu": no scheme: did you mean http://user:xxxxx@10.0.0.1:3128?`},
		{"no scheme, a name", "proxy.example.com:3128\n", `line 1: "proxy.example.com:3128": no scheme: did you mean http://proxy.example.com:3128?`},
		{"no host", "http://:8080\n", "no host"},
		{"bad metadata", "http://10.0.0.1:1 region\n", `line 1: "http://10.0.0.1:1 region": metadata "region": want key=value`},
		{"duplicate metadata", "http://10.0.0.1:1 a=1 a=2\n", "metadata a is set twice"},
		{"line number", "\n\nhttp://h/path\n", "line 3:"},
		{"unparseable with password", "http://user:hunter2@[::1 a=b\n", `line 1: "http://user:xxxxx@[::1 a=b": `},
		{"too long", "http://h:1 a=" + strings.Repeat("x", maxPoolLine) + "\n", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePoolFile(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error repeats a password: %v", err)
			}
			if strings.Contains(err.Error(), "coord:") || strings.Contains(err.Error(), "bad upstream URL") {
				t.Fatalf("error shows the library's wording: %v", err)
			}
		})
	}
	t.Run("passwords never in errors", func(t *testing.T) {
		_, err := parsePoolFile(strings.NewReader("ftp://user:hunter2@10.0.0.1:21\n"))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzParsePoolFile(f *testing.F) {
	f.Add("http://user:pass@10.0.0.1:3128 region=us-east\n# c\nsocks5://h:1\n")
	f.Add("http://[::1]:80 a=b=c\n")
	f.Add("\x00http://\xff:1 =\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := parsePoolFile(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range lines {
			if _, err := coord.ParseUpstream(coord.PoolEntry{URL: l.URL}); err != nil {
				t.Fatalf("accepted line %d with a bad URL: %v", l.Line, err)
			}
		}
	})
}
