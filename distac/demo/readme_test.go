package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README shows what the demo prints: its merged-accuracy table has a
// row for every method the demo merges with, in the demo's order, and a
// column for every regime.
func TestReadmeShowsEveryMethod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\nMerged accuracy over 4 tasks")
	if i < 0 {
		t.Fatal("README shows no demo table (Merged accuracy over 4 tasks ...)")
	}
	lines := strings.Split(text[i+1:], "\n")
	for _, col := range []string{"ideal", "norm mismatch", "norm mismatch + DisTaC", "low confidence", "low confidence + DisTaC"} {
		if !strings.Contains(lines[1], col) {
			t.Errorf("the README's demo table has no column %q: %q", col, lines[1])
		}
	}
	rows := lines[3:]
	for k, m := range demoMethods {
		if k >= len(rows) || !strings.HasPrefix(rows[k], methodLabel(m)+" ") {
			t.Errorf("row %d of the README's demo table: want %s", k, methodLabel(m))
		}
	}
}
