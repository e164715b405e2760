package yamlconf

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	var (
		name  string
		n     *int
		list  []string
		force bool
	)
	fields := []Field{{"name", &name}, {"n", &n}, {"list", &list}, {"force", &force}}
	set, err := Decode([]byte("name: a\nn: 0\nlist: [x, y]\n"), "a test config", fields)
	if err != nil {
		t.Fatal(err)
	}
	if name != "a" || n == nil || *n != 0 || len(list) != 2 || force || !set["n"] || set["force"] {
		t.Errorf("decoded name %q n %v list %v force %v, set %v", name, n, list, force, set)
	}
	if set, err := Decode([]byte(`{"force": true}`), "a test config", fields); err != nil || !force || len(set) != 1 {
		t.Errorf("JSON: %v, force %v, set %v", err, force, set)
	}
	if set, err := Decode(nil, "a test config", fields); err != nil || len(set) != 0 {
		t.Errorf("empty: %v, %v", set, err)
	}
	for text, want := range map[string]string{
		"nmae: a\n":      "line 1: nmae: unknown key (a test config takes name, n, list, force)",
		"n: 1\nn: 2\n":   `line 2: key "n" given twice`,
		"n: many\n":      "line 1: n:",
		"- a\n":          "a test config is a mapping",
		"name: [1\n":     "yaml",
		"force: maybe\n": "line 1: force:",
		"list: {a: b}\n": "line 1: list:",
	} {
		if _, err := Decode([]byte(text), "a test config", fields); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}
