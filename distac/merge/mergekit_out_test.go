package merge

import (
	"strings"
	"testing"
)

// distac's output and run keys may stand beside mergekit's (how the C API,
// which has no --out, names the output); other keys stay errors.
func TestMergekitConfigDistacKeys(t *testing.T) {
	c, err := ParseConfig([]byte("merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n"+
		"out: merged.safetensors\nforce: true\nmismatch: common\nthreads: 2\n"), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	if err := c.Apply(&o); err != nil {
		t.Fatal(err)
	}
	if !c.Mergekit || o.Out != "cfg/merged.safetensors" || !o.Force || o.Mismatch != MismatchCommon || o.Threads != 2 || o.Method != "task_arithmetic" {
		t.Errorf("mergekit config with distac's keys read as %+v", o)
	}
	if _, err := ParseConfig([]byte("merge_method: linear\nmodels: [{model: a}]\nouts: x\n"), ""); err == nil || !strings.Contains(err.Error(), "and distac's out") {
		t.Errorf("an unknown key: %v", err)
	}
}
