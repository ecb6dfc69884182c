package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleFiles hold the Example functions the README's "Reuse in your own
// Go app" snippets are copied from.
var exampleFiles = []string{
	"handlers/example_test.go",
	"guard/example_test.go",
	"guard/ginguard/example_test.go",
	"policy/policytest/example_test.go",
	"cli/example_test.go",
}

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestReadmeReuseMatchesExamples: every line of the Go snippets in the
// README's "Reuse in your own Go app" is a line of an Example function
// (indentation aside), so the snippets compile, handle their errors and run
// in CI as the Examples do.
func TestReadmeReuseMatchesExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Reuse in your own Go app\n")
	if !ok {
		t.Fatal(`README.md has no "### Reuse in your own Go app" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	known := map[string]bool{}
	for _, f := range exampleFiles {
		b, err := os.ReadFile(filepath.FromSlash(f))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			known[strings.TrimSpace(line)] = true
		}
	}
	blocks := goBlock.FindAllStringSubmatch(section, -1)
	if len(blocks) < 5 {
		t.Fatalf("the section has %d Go snippets, want the 5 or more entry points", len(blocks))
	}
	for _, block := range blocks {
		for line := range strings.Lines(block[1]) {
			if l := strings.TrimSpace(line); l != "" && !known[l] {
				t.Errorf("README snippet line is in no Example function (%s): %s", strings.Join(exampleFiles, ", "), l)
			}
		}
	}
}
