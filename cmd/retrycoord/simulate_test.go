package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSimulateLogsTheBreakerLifecycle(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs([]string{"simulate", "--log-format", "json"})
	cmd.SetErr(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("simulate: %v", err)
	}
	var got []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			From string `json:"from"`
			To   string `json:"to"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if line.Msg == "breaker transition" {
			got = append(got, line.From+">"+line.To)
		}
	}
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
}

func TestBadLogFlags(t *testing.T) {
	for _, args := range [][]string{
		{"simulate", "--log-format", "xml"},
		{"simulate", "--log-level", "loud"},
	} {
		cmd := newRootCommand()
		cmd.SetArgs(args)
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("%v: err = %v, want one naming %s", args, err, args[1])
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs([]string{"version"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "retrycoord dev (commit unknown, go1.") {
		t.Fatalf("version printed %q", out.String())
	}
}
