package browsertest

import (
	"strings"
	"testing"
)

// TestBinaryMissingSaysHowToInstall: without Chromium the browser tests
// fail with the way to install it, never skip.
func TestBinaryMissingSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvBinary, "")
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "scripts/ensure-test-deps.sh") {
		t.Fatalf("Binary() with no chromium on PATH: %v, want an error naming scripts/ensure-test-deps.sh", err)
	}
}
