package merge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMergekitConfig checks how a mergekit config maps onto distac's
// settings, and that what distac cannot do is an error naming it.
func TestMergekitConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`
merge_method: dare_ties
base_model: base
models:
  - model: a
    parameters: {weight: 0.6, density: 0.4}
  - model: base
  - model: b
    parameters: {weight: 0.4}
parameters:
  lambda: 0.8
  int8_mask: true
  normalize: true
  density: 0.7
  seed: 5
out_dtype: bfloat16
`), "dir")
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	want := Options{Method: "dare_ties", Base: "dir/base", Tasks: []string{"dir/a", "dir/b"}, Alpha: 0.8, OutDType: "bf16",
		Params: map[string]string{"weights": "0.6,0.4", "density": "0.4,0.7", "normalize": "true", "seed": "5"}}
	if d := cmp.Diff(want, o, cmp.AllowUnexported(Options{})); d != "" {
		t.Errorf("options (-want +got):\n%s", d)
	}
	if !c.Mergekit || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "int8_mask") {
		t.Errorf("mergekit %v, notes %q", c.Mergekit, c.Notes)
	}
	if m, _ := Lookup(o.Method); m != nil {
		if _, err := m.Resolve(o.Params, len(o.Tasks)); err != nil {
			t.Errorf("the mapped parameters do not resolve: %v", err)
		}
	}

	// linear without base_model: the first model is the base, its weight base_weight.
	c, err = ParseConfig([]byte("merge_method: linear\nmodels:\n  - {model: x, parameters: {weight: 2}}\n  - {model: y, parameters: {weight: 1}}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"base_weight": "2", "weights": "1"}, c.Params); d != "" || c.Base != "x" || len(c.Tasks) != 1 || c.Method != "linear" {
		t.Errorf("linear: base %q tasks %q params (-want +got):\n%s", c.Base, c.Tasks, d)
	}
	// mergekit's ties is mergekit_ties; distac's own method names work too.
	for name, method := range map[string]string{"ties": "mergekit_ties", "task_arithmetic": "task_arithmetic", "tsvm": "tsvm"} {
		c, err := ParseConfig([]byte("merge_method: "+name+"\nbase_model: b\nmodels: [{model: a}]\n"), "")
		if err != nil || c.Method != method {
			t.Errorf("merge_method %s: method %q, err %v", name, c.Method, err)
		}
	}

	bad := map[string]string{
		"gradient":   "merge_method: ties\nbase_model: b\nmodels: [{model: a, parameters: {weight: [0, 1]}}]\n",
		"slices":     "merge_method: ties\nslices: []\n",
		"no base":    "merge_method: ties\nmodels: [{model: a}]\n",
		"no method":  "models: [{model: a}]\nbase_model: b\n",
		"unknown":    "merge_method: ties\nbase_model: b\nmodels: [{model: a}]\nfrobnicate: 1\n",
		"tokenizer":  "merge_method: ties\nbase_model: b\nmodels: [{model: a}]\ntokenizer_source: union\n",
		"weight":     "merge_method: tsvm\nbase_model: b\nmodels: [{model: a, parameters: {weight: 0.5}}]\n",
		"only base":  "merge_method: ties\nbase_model: b\nmodels: [{model: b}]\n",
		"dtype":      "merge_method: ties\nbase_model: b\nmodels: [{model: a}]\ndtype: int8\n",
		"bad method": "merge_method: slerp\nbase_model: b\nmodels: [{model: a}]\n",
		"param":      "merge_method: ties\nbase_model: b\nmodels: [{model: a, parameters: {gamma: 0.1}}]\n",
	}
	for name, text := range bad {
		if _, err := ParseConfig([]byte(text), ""); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "mergekit config") {
			t.Errorf("%s: error %q does not say it read a mergekit config", name, err)
		}
	}
}
