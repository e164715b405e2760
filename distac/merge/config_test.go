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
	if _, _, err := o.validate(true); err == nil || !strings.Contains(err.Error(), `ties has no parameter "lambda"`) {
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

// TestOptionsFromConfig: a config alone gives the options `distac merge
// --config` runs: the defaults under it, another method's parameters
// dropped with a note (those of flags are kept for Run to refuse), the
// backend it names.
func TestOptionsFromConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"method": "ties", "base": "b", "tasks": ["t"], "out": "o", "k": 10, "seed": 5, "lambda": 0.3, "workers": 2, "backend": "ref"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	o, notes, err := OptionsFromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"line 1: workers is deprecated; use threads", "lambda is not a parameter of ties; ignored", "seed is not a parameter of ties; ignored"}
	if d := cmp.Diff(want, notes); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{"k": "10"}, o.Params); d != "" || o.Alpha != 1 || o.Threads != 2 || o.Backend == nil || o.Backend.Name() != "ref" {
		t.Errorf("options %+v (params -want +got:\n%s)", o, d)
	}
	o = DefaultOptions()
	c.Apply(&o)
	if notes := c.DropForeignParams(&o, map[string]bool{"seed": true}); len(notes) != 1 || o.Params["seed"] != "5" {
		t.Errorf("a parameter the flags set was dropped: %v, %v", notes, o.Params)
	}
	if _, _, err := OptionsFromConfig(&Config{Backend: "nope"}); err == nil {
		t.Error("an unknown backend was opened")
	}
}

func TestParseDiagnoseConfig(t *testing.T) {
	c, err := ParseDiagnoseConfig([]byte("base: b.safetensors\ntasks: [t1, /abs/t2]\nper_tensor: true\nthreads: 2\n"), "/d")
	if err != nil {
		t.Fatal(err)
	}
	want := &DiagnoseConfig{Base: "/d/b.safetensors", Tasks: []string{"/d/t1", "/abs/t2"}, WarnRatio: 2, PerTensor: true, Threads: 2}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for bad, want := range map[string]string{
		"warn_ratio: -1\n": "warn_ratio: -1", "threads: -1\n": "threads: -1", "task: [a]\n": "task: unknown key",
		"warn_ratio: .nan\n": "warn_ratio: NaN",
	} {
		if _, err := ParseDiagnoseConfig([]byte(bad), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}
