package train

import (
	"math"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
)

// FuzzParseConditionConfig: the condition config parser never panics, and
// whatever it accepts holds to the flags' rules (what distac_condition and
// `distac condition --config` then run with).
func FuzzParseConditionConfig(f *testing.F) {
	f.Add([]byte("base: b.safetensors\ntasks: [a, b]\nheads: h\ndata: [mnist, imgs]\nout_dir: o\nsteps: 10\n"))
	f.Add([]byte(`{"base": "b", "tasks": ["t"], "confidence": true, "t_tcr": 3, "kappa": 0.5, "seed": 7}`))
	f.Add([]byte("lr: .nan\nsteps: -1\n"))
	f.Add([]byte("t_tcr: 1e39\nbeta: 4e38\n"))
	f.Add([]byte("heads: {a: b}\n"))
	f.Add([]byte("prefix: \"\"\nprefix: x\n"))
	f.Add([]byte("*a\n&b: c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseConditionConfig(b, "dir")
		if err != nil {
			if j != nil {
				t.Fatal("a job returned with an error")
			}
			return
		}
		o := j.Options
		finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
		switch {
		case o.Steps < 1 || o.Batch < 1 || o.Warmup < 0 || o.Parallel < 0 || j.Threads < 0 || j.MaxImages < 0 || j.MaxPixels < 0:
			t.Fatalf("a count out of range: %+v", j)
		case !(o.LR > 0) || !finite(o.LR) || !(o.TTcr > 0) || !(o.TStu > 0) || !finite(float64(o.TTcr)) || !finite(float64(o.TStu)):
			t.Fatalf("a rate or temperature out of range: %+v", o)
		case o.Kappa < 0 || o.TargetNorm < 0 || o.Anchor < 0 || o.Clip < 0 || !finite(o.Kappa) || !finite(o.TargetNorm) ||
			!finite(o.Clip) || !finite(float64(o.Anchor)) || o.LR > math.MaxFloat32:
			t.Fatalf("a scale out of range: %+v", o)
		}
		if _, _, err := checkpoint.ParseOutDType(j.DType); err != nil {
			t.Fatalf("dtype %q accepted", j.DType)
		}
	})
}
