package merge

import (
	"regexp"
	"strings"
	"testing"

	"github.com/distac/distac/internal/testutil"
)

// The README's table of methods lists every method defined here, each
// with a source: a method added without its paper fails this.
func TestReadmeListsEveryMethod(t *testing.T) {
	table := testutil.ReadmeFrom(t, "| method | what it computes | source |")
	listed := map[string]string{} // method -> its source cell
	name := regexp.MustCompile("`([a-z_]+)`")
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 3 {
			t.Fatalf("row %q: want 3 cells", line)
		}
		for _, m := range name.FindAllStringSubmatch(cells[0], -1) {
			listed[m[1]] = strings.TrimSpace(cells[len(cells)-1])
		}
	}
	for _, m := range MethodNames() {
		src, ok := listed[m]
		if !ok {
			t.Errorf("method %s is not in the README's table of methods", m)
		} else if len(src) < 10 {
			t.Errorf("method %s: source %q names no paper", m, src)
		}
	}
}
