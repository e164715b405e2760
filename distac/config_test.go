package distac

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5GB": 5e9, "500MiB": 500 << 20, "1048576": 1 << 20, "1.5 kb": 1500, "0": 0, "2g": 2e9, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1GB", "five", "1e300TB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestLoadMergeConfig(t *testing.T) {
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
	c, err := LoadMergeConfig(write("m.yaml", yml))
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultMergeOptions()
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	if o.Method != "consensus" || o.Alpha != 0.6 || !reflect.DeepEqual(o.Lambdas, []float64{0.2, 0.5}) ||
		o.OutDType != "bf16" || o.ShardSize != 1e9 || !o.Force || o.K != 20 {
		t.Errorf("yaml config applied as %+v", o)
	}
	if o.Base != filepath.Join(dir, "models/base.safetensors") || o.Tasks[1] != "/abs/b.safetensors" || o.Out != filepath.Join(dir, "merged.safetensors") {
		t.Errorf("paths not resolved against the config's directory: %q %q %q", o.Base, o.Tasks, o.Out)
	}
	c, err = LoadMergeConfig(write("m.json", js))
	if err != nil {
		t.Fatal(err)
	}
	o = DefaultMergeOptions()
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	if o.Method != "ties" || o.K != 10 || o.Seed != 5 || !reflect.DeepEqual(o.Lambdas, []float64{0.3}) || o.Alpha != 1 {
		t.Errorf("json config applied as %+v", o)
	}
	if _, err := LoadMergeConfig(write("typo.yaml", "methd: ta\n")); err == nil || !strings.Contains(err.Error(), "methd") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := LoadMergeConfig(write("bad.yaml", "alpha: [1\n")); err == nil {
		t.Error("malformed yaml accepted")
	}
}
