package merge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	yml := "method: consensus\nbase: models/base.safetensors\ntasks: [a.safetensors, /abs/b.safetensors]\nalpha: 0.6\nlambda: [0.2, 0.5]\ndtype: bf16\nshard_size: 1GB\nforce: true\nout: merged.safetensors\n"
	js := `{"method": "ties", "base": "b", "tasks": ["t"], "k": 10, "lambda": 0.3, "seed": 5, "out": "o"}`
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write("m.yaml", yml))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Method: MethodTA, Alpha: 1}
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	want := Options{Method: "consensus", Alpha: 0.6, Params: map[string]string{"lambda": "0.2,0.5"}, OutDType: "bf16",
		ShardSize: 1e9, Force: true, Base: filepath.Join(dir, "models/base.safetensors"),
		Tasks: []string{filepath.Join(dir, "a.safetensors"), "/abs/b.safetensors"}, Out: filepath.Join(dir, "merged.safetensors")}
	if d := cmp.Diff(want, o, cmpopts.IgnoreUnexported(Options{})); d != "" {
		t.Errorf("yaml config applied (-want +got):\n%s", d)
	}
	c, err = LoadConfig(write("m.json", js))
	if err != nil {
		t.Fatal(err)
	}
	o = Options{Method: MethodTA, Alpha: 1}
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	want = Options{Method: "ties", Alpha: 1, Params: map[string]string{"k": "10", "lambda": "0.3", "seed": "5"},
		Base: filepath.Join(dir, "b"), Tasks: []string{filepath.Join(dir, "t")}, Out: filepath.Join(dir, "o")}
	if d := cmp.Diff(want, o, cmpopts.IgnoreUnexported(Options{})); d != "" {
		t.Errorf("json config applied (-want +got):\n%s", d)
	}
	// The lambda and seed of another method reach the options, and the
	// merge refuses them.
	o.Backend = ffi.NewRef()
	if _, _, err := o.validate(); err == nil || !strings.Contains(err.Error(), `ties has no parameter "lambda"`) {
		t.Errorf("parameters of another method: %v", err)
	}
	for name, c := range map[string]struct{ text, want string }{
		"typo.yaml":   {"methd: ta\n", "methd"},
		"bad.yaml":    {"alpha: [1\n", "yaml"},
		"twice.yaml":  {"k: 1\nk: 2\n", "given twice"},
		"list.yaml":   {"k: [1, 2]\n", "want a number"},
		"nested.yaml": {"lambda: [[1]]\n", "list of numbers"},
		"scalar.yaml": {"7\n", "mapping"},
	} {
		if _, err := LoadConfig(write(name, c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	if c, err := ParseConfig([]byte("base: rel.safetensors\n"), ""); err != nil || c.resolve(c.Base) != "rel.safetensors" {
		t.Errorf("no directory: relative paths stay relative to the working directory: %+v, %v", c, err)
	}
}
