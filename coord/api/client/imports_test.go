package client

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibrary: a thin client pulls in neither the
// server nor Prometheus, nor anything outside the standard library.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("package client imports %s", imp)
		}
	}
}
