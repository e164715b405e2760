package demo

import (
	"strings"
	"testing"

	"github.com/distac/distac/internal/testutil"
)

// The README shows what the demo prints: its merged-accuracy table has a
// row for every method the demo merges with, in the demo's order, and a
// column for every regime.
func TestReadmeShowsEveryMethod(t *testing.T) {
	lines := strings.Split(testutil.ReadmeFrom(t, "Merged accuracy over 4 tasks"), "\n")
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
