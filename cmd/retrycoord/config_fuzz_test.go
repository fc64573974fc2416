package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// FuzzParseConfigFile reads a fuzzed YAML config file the way the agent
// does: parseConfigFile, then applyConfig onto the agent's own flags. Neither
// panics; a file that parses and applies sets exactly its keys; no error
// shows the value of a secret setting.
func FuzzParseConfigFile(f *testing.F) {
	for _, s := range []string{
		"node-name: n1\njoin: [10.0.0.1:7946, 10.0.0.2:7946]\npush-pull-interval: 3s\ndev: true\n",
		"api-token: s3cret-token-value\nencrypt:\n  - MDEyMzQ1Njc4OWFiY2RlZg==\nredis-url: redis://:hunter2@127.0.0.1:6379/0\n",
		"proxy-auth: user:pa55word\nproxy-addr: ''\n",
		"",
		"---\n",
		"# only a comment\n",
		"[a, b]\n",
		"join: {a: b}\n",
		"join: [[x]]\n",
		"push-pull-interval: 5 minutes\n",
		"push-pull-interval: -1s\n",
		"dev: maybe\n",
		"colour: red\n",
		"config: other.yaml\n",
		"node-name: a\nnode-name: b\n",
		"a: &x 1\nb: *x\n",
		"? [complex]\n: key\n",
		"api-token: !!binary aHVudGVyMg==\n",
		"encrypt: \"a,\\\"b\"\n",
		"x: 1\n---\ny: 2\n",
		"node-name: \"\\x00\\u2028\"\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		values, perr := parseConfigFile(data)
		path := filepath.Join(dir, "retrycoord.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var s agentSettings
		fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
		s.register(fs)
		if err := fs.Set("config", path); err != nil {
			t.Fatal(err)
		}
		err := applyConfig(fs, "config", func(string) (string, bool) { return "", false })
		if perr != nil {
			if err == nil {
				t.Fatalf("parseConfigFile = %v, but applyConfig accepted the file", perr)
			}
			return
		}
		if err == nil {
			for k := range values {
				if f := fs.Lookup(k); f == nil || !f.Changed {
					t.Fatalf("applyConfig accepted %q but did not set it", k)
				}
			}
			return
		}
		for k, v := range values {
			if !secretSettings[k] {
				continue
			}
			for _, piece := range strings.Split(v, ",") {
				if len(piece) >= 6 && strings.Count(string(data), piece) <= 1 && strings.Contains(err.Error(), piece) &&
					!strings.Contains(path, piece) {
					t.Fatalf("error %q shows the value of %s", err, k)
				}
			}
		}
	})
}
