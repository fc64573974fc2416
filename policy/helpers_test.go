package policy_test

import (
	"strings"
	"testing"
)

// wantErr fails t unless err is nil (want == "") or its message contains
// want. Every error must start with "policy: " on every line.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("err = nil, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want one containing %q", err, want)
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if !strings.HasPrefix(line, "policy: ") {
			t.Errorf("error line %q does not start with \"policy: \"", line)
		}
	}
}
