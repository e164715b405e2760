package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Readme is the module's README.md, found from the working directory (a
// package's folder under go test) up to the folder of go.mod.
func Readme(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = filepath.Dir(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ReadmeFrom is the README from its first line that starts with start on.
func ReadmeFrom(t testing.TB, start string) string {
	t.Helper()
	text := Readme(t)
	i := strings.Index("\n"+text, "\n"+start)
	if i < 0 {
		t.Fatalf("README has no line that starts with %q", start)
	}
	return text[i:]
}
