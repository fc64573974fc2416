package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEPointsInsideTheRepository: the README links the project's own
// architecture document, every relative link of the README and of docs/
// leads to a file of the repository, and nothing points outside it.
func TestREADMEPointsInsideTheRepository(t *testing.T) {
	root := filepath.Join("..", "..")
	link := regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "](docs/ARCHITECTURE.md)") {
		t.Error("README does not link docs/ARCHITECTURE.md")
	}
	if !strings.Contains(string(readme), "\n## Prerequisites\n") {
		t.Error("README has no Prerequisites section")
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, path := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "../shared/") || strings.Contains(string(text), "DESIGN.md") {
			t.Errorf("%s points at a design document outside the repository", path)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("%s links %s, which is not in the repository", path, target)
			}
		}
	}
}
