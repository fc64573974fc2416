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

// TestREADMEGoSnippetsAreExamples: every Go snippet in the README stands,
// line for line (indentation and runs of spaces aside), in one runnable
// Example function of the repository, so a snippet that stops compiling or
// drifts from what the code does fails here rather than in a user's hands.
func TestREADMEGoSnippetsAreExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets := goSnippets(string(readme))
	if len(snippets) == 0 {
		t.Fatal("README has no Go snippet: the embedding section is gone?")
	}
	var examples []string // normalised bodies of every Example function
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, body := range exampleBodies(string(src)) {
			examples = append(examples, "\n"+strings.Join(normalise(body), "\n")+"\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, snip := range snippets {
		want := "\n" + strings.Join(normalise(snip), "\n") + "\n"
		found := false
		for _, ex := range examples {
			if strings.Contains(ex, want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README snippet is in no Example function:\n%s", snip)
		}
	}
}

// goSnippets returns the bodies of the ```go blocks of a Markdown text.
func goSnippets(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```go\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			out = append(out, part[:end])
		}
	}
	return out
}

// exampleBodies returns the text of each top-level func Example… in src,
// from its signature to the closing brace at the start of a line.
func exampleBodies(src string) []string {
	var out []string
	for _, part := range strings.Split(src, "\nfunc Example")[1:] {
		if end := strings.Index(part, "\n}\n"); end >= 0 {
			out = append(out, part[:end])
		}
	}
	return out
}

// normalise trims each line, folds runs of spaces and tabs (gofmt aligns
// comments by what surrounds them) and drops blank lines.
func normalise(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			out = append(out, line)
		}
	}
	return out
}
