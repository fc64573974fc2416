package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

type testSettings struct {
	fs       *pflag.FlagSet
	config   string
	name     string
	join     []string
	interval time.Duration
	dev      bool
	token    string
}

func newTestSettings() *testSettings {
	s := &testSettings{fs: pflag.NewFlagSet("test", pflag.ContinueOnError)}
	s.fs.StringVar(&s.config, "config", "", "")
	s.fs.StringVar(&s.name, "node-name", "default-name", "")
	s.fs.StringSliceVar(&s.join, "join", nil, "")
	s.fs.DurationVar(&s.interval, "push-pull-interval", 10*time.Second, "")
	s.fs.BoolVar(&s.dev, "dev", false, "")
	s.fs.StringVar(&s.token, "api-token", "", "")
	return s
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "retrycoord.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
node-name: from-file
join: [10.0.0.1:7946, 10.0.0.2:7946]
push-pull-interval: 3s
dev: true
`)
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantName string
		wantJoin []string
		wantPP   time.Duration
	}{
		{"file only", []string{"--config", file}, nil, "from-file", []string{"10.0.0.1:7946", "10.0.0.2:7946"}, 3 * time.Second},
		{"env beats file", []string{"--config", file},
			map[string]string{"RETRYCOORD_NODE_NAME": "from-env", "RETRYCOORD_JOIN": "a:1,b:2"},
			"from-env", []string{"a:1", "b:2"}, 3 * time.Second},
		{"flag beats env and file", []string{"--config", file, "--node-name", "from-flag", "--push-pull-interval", "1s"},
			map[string]string{"RETRYCOORD_NODE_NAME": "from-env"},
			"from-flag", []string{"10.0.0.1:7946", "10.0.0.2:7946"}, time.Second},
		{"config path from env", nil, map[string]string{"RETRYCOORD_CONFIG": file},
			"from-file", []string{"10.0.0.1:7946", "10.0.0.2:7946"}, 3 * time.Second},
		{"nothing set: defaults", nil, nil, "default-name", nil, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSettings()
			if err := s.fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := applyConfig(s.fs, "config", env(tc.env)); err != nil {
				t.Fatalf("applyConfig: %v", err)
			}
			got := []any{s.name, s.join, s.interval}
			want := []any{tc.wantName, tc.wantJoin, tc.wantPP}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		want    []string // every piece must be in the error
		notWant string   // must not be in the error
	}{
		{"unknown key in file", "node-nmae: x\n", nil, []string{`unknown setting "node-nmae"; did you mean "node-name"?`}, ""},
		{"unknown key, underscores", "push_pull_intervall: 1s\n", nil, []string{`unknown setting "push_pull_intervall"; did you mean "push-pull-interval"?`}, ""},
		{"unknown key, nothing near", "colour: blue\n", nil, []string{`unknown setting "colour"`}, "did you mean"},
		{"bad duration in file", "push-pull-interval: soon\n", nil, []string{"config file", "push-pull-interval", "soon"}, ""},
		{"bad bool in env", "", map[string]string{"RETRYCOORD_DEV": "maybe"}, []string{"environment RETRYCOORD_DEV", "dev"}, ""},
		{"not a mapping", "- a\n- b\n", nil, []string{"want a mapping"}, ""},
		{"broken yaml", "node-name: [unclosed\n", nil, []string{"config file"}, ""},
		{"duplicate key", "node-name: a\nnode-name: b\n", nil, []string{"set twice"}, ""},
		{"nested value", "node-name: {a: 1}\n", nil, []string{"node-name", "want a value"}, ""},
		{"config names itself", "config: other.yaml\n", nil, []string{"unknown setting \"config\""}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSettings()
			args := []string{}
			if tc.file != "" {
				args = append(args, "--config", writeConfig(t, tc.file))
			}
			if err := s.fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			err := applyConfig(s.fs, "config", env(tc.env))
			if err == nil {
				t.Fatal("applyConfig succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error %q mentions %q", err, tc.notWant)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		s := newTestSettings()
		_ = s.fs.Parse([]string{"--config", filepath.Join(t.TempDir(), "nope.yaml")})
		if err := applyConfig(s.fs, "config", env(nil)); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("err = %v, want one naming the file", err)
		}
	})
}

func TestEnvName(t *testing.T) {
	if got := envName("api-token"); got != "RETRYCOORD_API_TOKEN" {
		t.Fatalf("envName = %q", got)
	}
}
