package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// TestBreakersOpenForWhileOpen: OPEN FOR shows the time left, and a
// breaker still open past its open time shows that its probe is due,
// never "-".
func TestBreakersOpenForWhileOpen(t *testing.T) {
	var out bytes.Buffer
	err := writeBreakers(&out, []api.Breaker{
		{Upstream: "http://10.0.0.1:1", Phase: "open", Gen: 1, OpenFor: "29s"},
		{Upstream: "http://10.0.0.2:1", Phase: "open", Gen: 2},
		{Upstream: "http://10.0.0.3:1", Phase: "closed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	col := strings.Index(lines[0], "OPEN FOR")
	want := []string{"29s ", "0s (probe due) ", "- "}
	for i, w := range want {
		if got := lines[i+1][col:]; !strings.HasPrefix(got, w) {
			t.Errorf("row %d OPEN FOR = %q, want %q\n%s", i+1, got, w, out.String())
		}
	}
}

// TestPoolListColumns: one column names the upstream (no URL column that
// repeats it), credentials show as AUTH, and latencies are rounded.
func TestPoolListColumns(t *testing.T) {
	var out bytes.Buffer
	err := writePool(&out, []api.Upstream{
		{Upstream: "http://10.0.0.1:3128", URL: "http://bob:xxxxx@10.0.0.1:3128", Phase: "closed", Outcomes: 4, SuccessRate: 0.75, MeanLatency: "1.234567ms"},
		{Upstream: "http://10.0.0.2:3128", URL: "http://10.0.0.2:3128", Phase: "closed", Outcomes: 1, SuccessRate: 1, MeanLatency: "412.3456µs"},
		{Upstream: "http://10.0.0.3:3128", URL: "http://10.0.0.3:3128", Phase: "open", Outcomes: 2, MeanLatency: "2.345678912s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if header := strings.Fields(strings.SplitN(got, "\n", 2)[0]); strings.Join(header, " ") != "UPSTREAM AUTH REGION PHASE SUCCESS LATENCY META" {
		t.Errorf("header = %q", header)
	}
	for _, w := range []string{"bob:xxxxx", " 1.2ms ", " 412µs ", " 2.35s ", "75% of 4"} {
		if !strings.Contains(got, w) {
			t.Errorf("pool list lacks %q:\n%s", w, got)
		}
	}
	if strings.Count(got, "10.0.0.2:3128") != 1 {
		t.Errorf("an upstream is named twice on its row:\n%s", got)
	}
}

// TestAdminTokenFromAgentVariable: the admin commands read the agent's
// RETRYCOORD_API_TOKEN, so one variable serves both.
func TestAdminTokenFromAgentVariable(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	env := map[string]string{adminEnvAddr: srv.URL, "RETRYCOORD_API_TOKEN": "agent-token", "RETRYCOORD_TOKEN": "old-token"}
	o := &adminOptions{getenv: func(k string) string { return env[k] }}
	if _, err := o.client(false).Members(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer agent-token" {
		t.Errorf("Authorization = %q, want the token of RETRYCOORD_API_TOKEN", gotAuth)
	}
}

// TestWatchBanner: watch says what it watches, on one line of standard
// error, before any event; --json prints none.
func TestWatchBanner(t *testing.T) {
	a := newAdminAgent(t, nil)
	for _, tc := range []struct {
		args       []string
		wantBanner bool
	}{{[]string{"watch"}, true}, {[]string{"watch", "--json"}, false}} {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr testutil.SyncBuffer
		done := make(chan error, 1)
		go func() {
			env := map[string]string{adminEnvAddr: a.srv.URL}
			root := &cobra.Command{Use: "retrycoord", SilenceUsage: true, SilenceErrors: true}
			root.AddCommand(newAdminCommandsWith(func(o *adminOptions) { o.getenv = func(k string) string { return env[k] } })...)
			root.SetOut(&stdout)
			root.SetErr(&stderr)
			root.SetArgs(tc.args)
			done <- root.ExecuteContext(ctx)
		}()
		// The first event proves the stream is up, so the banner (written
		// before it connects) is there, if any.
		testutil.Eventually(t, 15*time.Second, "a transition on watch", func() bool {
			a.c.Table().Trip(a.plain, time.Minute, "banner")
			return strings.Contains(stdout.String(), "banner")
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		banner := stderr.String()
		want := "watching " + a.srv.URL + ": breaker transitions, pool and policy changes as they happen (Ctrl-C stops)\n"
		if tc.wantBanner && banner != want {
			t.Errorf("%v: stderr = %q, want the one-line banner %q", tc.args, banner, want)
		}
		if !tc.wantBanner && banner != "" {
			t.Errorf("%v: stderr = %q, want nothing", tc.args, banner)
		}
		if strings.Contains(stdout.String(), "watching") {
			t.Errorf("%v: the banner went to standard output:\n%s", tc.args, stdout.String())
		}
	}
}

// TestLogFormats: JSON logs write durations as Go does ("30s"), and the
// text format writes no ANSI escapes when its output is not a terminal.
func TestLogFormats(t *testing.T) {
	var buf bytes.Buffer
	logger, err := (&logOptions{level: "info", format: "json"}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("x", "timeout", 30*time.Second, "nested", map[string]any{})
	logger.WithGroup("g").Info("y", "wait", 1500*time.Millisecond)
	var lines []map[string]any
	for l := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	if got := lines[0]["timeout"]; got != "30s" {
		t.Errorf("timeout = %#v, want \"30s\"", got)
	}
	if got := lines[1]["g"].(map[string]any)["wait"]; got != "1.5s" {
		t.Errorf("g.wait = %#v, want \"1.5s\"", got)
	}

	// A file is not a terminal: the text format must not colour it.
	f, err := os.Create(filepath.Join(t.TempDir(), "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logger, err = (&logOptions{level: "info", format: "text"}).logger(f)
	if err != nil {
		t.Fatal(err)
	}
	logger.Warn("no colour", "err", "boom", "timeout", time.Second)
	text, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "no colour") {
		t.Fatalf("log file = %q", text)
	}
	if bytes.ContainsRune(text, 0x1b) {
		t.Errorf("text log to a file has ANSI escapes: %q", text)
	}
}
