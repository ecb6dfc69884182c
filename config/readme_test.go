package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the README's table in step with Vars.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if !strings.Contains(string(raw), "`"+v.Env+"`") {
			t.Errorf("README.md does not document %s", v.Env)
		}
	}
}
