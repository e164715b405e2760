package merge

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nlpodyssey/safetensors"
)

// updateDiff compares the merged update got - base with want - base (not
// the weights, whose size would hide an error in it): testutil.ApproxDiff
// of the updates.
func updateDiff(want, got, base []float64, tol float64) string {
	dw, dg := make([]float64, len(want)), make([]float64, len(got))
	for i := range want {
		dw[i] = want[i] - base[i]
	}
	for i := range got {
		dg[i] = got[i] - base[i]
	}
	return testutil.ApproxDiff(dw, dg, tol)
}

func mergeOpts(method, base string, tasks []string, out string, be ffi.Backend) Options {
	o := Options{Method: method, Base: base, Tasks: tasks, Out: out, Backend: be, Alpha: 0.7, OutDType: "f32",
		ChunkElems: 37, // odd, so chunks split every tensor at odd offsets
		Threads:    3}
	switch method {
	case MethodConsensus:
		o.Params = map[string]string{"lambda": "0.3,0.4,0.5"}
	case MethodDARE:
		o.Params = map[string]string{"drop": "0.6", "seed": "7"}
	case "linear":
		o.Params = map[string]string{"weights": "0.3,0.5,0.9", "base_weight": "0.2", "normalize": "false"}
	case "task_arithmetic":
		o.Params = map[string]string{"weights": "0.3,-0.5,0.9", "normalize": "true"}
	case "mergekit_ties":
		o.Params = map[string]string{"weights": "0.3,0.5,0.9", "density": "0.5,0.7,0.3", "rescale": "true"}
	case "dare_ties":
		o.Params = map[string]string{"weights": "0.3,0.5,0.9", "density": "0.5", "seed": "3"}
	case "dare_linear":
		o.Params = map[string]string{"weights": "0.7", "density": "0.4,0.6,0.8", "rescale": "false", "normalize": "true"}
	}
	return o
}

// refOf is the reference's view of o's settings, from the method's own
// parsing (which this package's tests check separately).
func refOf(t testing.TB, o Options) refParams {
	t.Helper()
	m, err := Lookup(o.Method)
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Resolve(o.Params, len(o.Tasks))
	if err != nil {
		t.Fatal(err)
	}
	p := refParams{method: m.Name, alpha: o.Alpha}
	if x, ok := v["k"]; ok {
		p.k = x.(float64)
	}
	if x, ok := v["lambda"]; ok {
		p.lambdas = x.([]float64)
	}
	if x, ok := v["drop"]; ok {
		p.drop, p.seed = x.(float64), v.Uint("seed")
	}
	if isRefMergekit(m.Name) {
		perTask := func(key string, def float64) []float64 {
			xs := []float64{def}
			if x, ok := v[key]; ok {
				xs = x.([]float64)
			}
			out := make([]float64, len(o.Tasks))
			for t := range out {
				out[t] = xs[min(t, len(xs)-1)]
			}
			return out
		}
		p.mk = refMergekitParams{weights: perTask("weights", 1), density: perTask("density", 1), normalize: v.Bool("normalize")}
		if x, ok := v["rescale"]; ok {
			p.mk.rescale = x.(bool)
		}
		if x, ok := v["base_weight"]; ok {
			p.mk.baseWeight = x.(float64)
		}
		if x, ok := v["seed"]; ok {
			p.mk.seed = x.(uint64)
		}
	}
	return p
}

// TestMergeMatchesReference runs every method on every input dtype on the
// reference and the best CPU backend, and compares each with the float64
// reference of reference_test.go; the two backends must also agree.
func TestMergeMatchesReference(t *testing.T) {
	dtypes := []checkpoint.DType{safetensors.F32, safetensors.BF16, safetensors.F16}
	for _, dt := range dtypes {
		dir := t.TempDir()
		base, tasks := makeModels(uint64(dt)+1, 3, dt)
		bp, tps := writeSet(t, dir, base, tasks)
		for _, method := range MethodNames() {
			t.Run(fmt.Sprintf("%s/%s", dt, method), func(t *testing.T) {
				var outs []testModel
				for _, be := range backends(t) {
					out := filepath.Join(dir, fmt.Sprintf("%s-%s.safetensors", method, be.Name()))
					o := mergeOpts(method, bp, tps, out, be)
					rep, err := Run(context.Background(), o)
					if err != nil {
						t.Fatalf("%s: %v", be.Name(), err)
					}
					got := readModel(t, out)
					want := refMerge(base, tasks, refOf(t, o))
					for _, bt := range base {
						gt := got.get(bt.name)
						if gt == nil {
							t.Fatalf("%s: tensor %s missing from the output", be.Name(), bt.name)
						}
						if bt.raw != nil {
							if string(gt.raw) != string(bt.raw) || gt.dtype != bt.dtype {
								t.Errorf("%s: integer tensor %s not carried through", be.Name(), bt.name)
							}
							continue
						}
						if gt.dtype != safetensors.F32 {
							t.Errorf("%s: %s has dtype %s, want F32", be.Name(), bt.name, gt.dtype)
						}
						if d := updateDiff(want[bt.name], gt.vals, bt.vals, 1e-5); d != "" {
							t.Errorf("%s: %s: update vs the float64 reference (-ref +got):\n%s", be.Name(), bt.name, d)
						}
					}
					// Every method reports the task vectors' norms, whichever
					// pass summed them and however its chunks fell to workers.
					if d := cmp.Diff(refNorms(base, tasks), rep.TaskNorms, cmpopts.EquateApprox(1e-12, 0)); d != "" {
						t.Errorf("%s: task norms (-want +got):\n%s", be.Name(), d)
					}
					outs = append(outs, got)
				}
				for _, bt := range base {
					if bt.vals != nil && len(outs) > 1 {
						// The backends agree to the rounding of theta = base +
						// alpha*delta (an FMA or not): two float32 ulps of the
						// largest base weight.
						var top float64
						for _, b := range bt.vals {
							top = math.Max(top, math.Abs(b))
						}
						if d := cmp.Diff(outs[0].get(bt.name).vals, outs[1].get(bt.name).vals, cmpopts.EquateApprox(0x1p-22, 0x1p-22*top)); d != "" {
							t.Errorf("%s: ref and cpu backends differ (-ref +cpu):\n%s", bt.name, d)
						}
					}
				}
			})
		}
	}
}

// TestMergeOutputDType checks that a 16-bit output is the f32 result rounded
// to nearest even, and that the default keeps the base's dtype.
func TestMergeOutputDType(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(5, 2, safetensors.BF16)
	bp, tps := writeSet(t, dir, base, tasks)
	be := best(t)
	run := func(dtype, name string) testModel {
		o := mergeOpts(MethodTA, bp, tps, filepath.Join(dir, name), be)
		o.OutDType = dtype
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		return readModel(t, o.Out)
	}
	f32 := run("f32", "f32.safetensors")
	for _, c := range []struct {
		dtype string
		want  checkpoint.DType
	}{{"bf16", safetensors.BF16}, {"f16", safetensors.F16}, {"", safetensors.BF16}} {
		got := run(c.dtype, "out-"+c.dtype+".safetensors")
		for _, ft := range f32 {
			gt := got.get(ft.name)
			if ft.raw != nil {
				continue
			}
			if gt.dtype != c.want {
				t.Fatalf("--dtype %q: %s is %s, want %s", c.dtype, ft.name, gt.dtype, c.want)
			}
			for i, v := range ft.vals {
				if w := roundTo(c.want, v); gt.vals[i] != w {
					t.Fatalf("--dtype %q: %s[%d] = %v, want %v (f32 %v rounded)", c.dtype, ft.name, i, gt.vals[i], w, v)
				}
			}
		}
	}
}

// TestMergeDeterministic: chunking and worker count change nothing (DARE's
// mask included), and alpha = 0 returns the base.
func TestMergeDeterministic(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(9, 3, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	be := best(t)
	for _, method := range []string{MethodDARE, MethodTIES, MethodTSVM} {
		var prev testModel
		for i, cfg := range []struct{ chunk, workers int }{{1 << 16, 1}, {5, 4}, {64, 2}} {
			o := mergeOpts(method, bp, tps, filepath.Join(dir, fmt.Sprintf("%s%d.safetensors", method, i)), be)
			o.ChunkElems, o.Threads = cfg.chunk, cfg.workers
			if _, err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got := readModel(t, o.Out)
			if prev != nil {
				for _, gt := range got {
					if fmt.Sprint(gt.vals) != fmt.Sprint(prev.get(gt.name).vals) {
						t.Errorf("%s: %s differs with chunk %d, %d workers", method, gt.name, cfg.chunk, cfg.workers)
					}
				}
			}
			prev = got
		}
	}
	o := mergeOpts(MethodTA, bp, tps, filepath.Join(dir, "alpha0.safetensors"), be)
	o.Alpha = 0
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, gt := range readModel(t, o.Out) {
		if bt := base.get(gt.name); bt.vals != nil && fmt.Sprint(gt.vals) != fmt.Sprint(bt.vals) {
			t.Errorf("alpha 0: %s is not the base", gt.name)
		}
	}
}

// TestTiesThresholdStreaming: the streamed global threshold equals
// ffi.TiesThreshold over the whole task vector held in memory.
func TestTiesThresholdStreaming(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(11, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	be := ffi.NewRef()
	for _, k := range []float64{0.1, 7, 20, 50, 100} {
		o := mergeOpts(MethodTIES, bp, tps, filepath.Join(dir, fmt.Sprintf("k%v.safetensors", k)), be)
		o.Params = map[string]string{"k": fmtFloat(k)}
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		for ti, want := range refTiesThresholds(base, tasks, k) {
			if rep.Thresholds[ti] != float32(want) {
				t.Errorf("k=%v task %d: streamed threshold %v, by sorting %v", k, ti, rep.Thresholds[ti], want)
			}
		}
	}
}

// TestMergeMetadata: __metadata__ records the method and its parameters.
func TestMergeMetadata(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(3, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	f := mergedMetadata(t, mergeOpts(MethodTIES, bp, tps, filepath.Join(dir, "m.safetensors"), ffi.NewRef()))
	want := map[string]string{"format": "pt", "distac.method": "ties", "distac.k": "20", "distac.alpha": "0.7",
		"distac.base": "base.safetensors", "distac.tasks": "taska.safetensors,taskb.safetensors"}
	for k, v := range want {
		if f.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, f.Metadata[k], v)
		}
	}
	if _, ok := f.Metadata[checkpoint.ModelConfigKey]; ok {
		t.Errorf("a base without a model config gave the merge one: %q", f.Metadata[checkpoint.ModelConfigKey])
	}
}

// TestMergeCarriesModelConfig: the base's model config and key prefix go
// into the merged model, so it loads like the models it came from.
func TestMergeCarriesModelConfig(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(3, 2, safetensors.F32)
	bp := filepath.Join(dir, "base.safetensors")
	writeModel(t, bp, base, map[string]string{checkpoint.ModelConfigKey: `{"embed_dim": 4}`, checkpoint.KeyPrefixKey: "model.visual.", "other": "x"})
	var tps []string
	for i, m := range tasks {
		p := filepath.Join(dir, "task"+string(rune('a'+i))+".safetensors")
		writeModel(t, p, m, nil)
		tps = append(tps, p)
	}
	f := mergedMetadata(t, mergeOpts(MethodTA, bp, tps, filepath.Join(dir, "m.safetensors"), ffi.NewRef()))
	if f.Metadata[checkpoint.ModelConfigKey] != `{"embed_dim": 4}` || f.Metadata[checkpoint.KeyPrefixKey] != "model.visual." || f.Metadata["distac.method"] != "ta" {
		t.Errorf("merged metadata %v lacks the base's model config, prefix or the method", f.Metadata)
	}
	if _, ok := f.Metadata["other"]; ok {
		t.Errorf("merged metadata carried an unrelated key of the base: %v", f.Metadata)
	}
}

// mergedMetadata runs the merge o and opens its output (closed with the test).
func mergedMetadata(t *testing.T, o Options) *checkpoint.File {
	t.Helper()
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return mergedFile(t, o.Out)
}

// Progress counts work that takes about equal time: for an element-wise
// method the bytes read, for an SVD method also each matrix's flops, so a
// time-left estimate holds; done ends at total.
func TestProgressWeighsWork(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(5, 3, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	for _, c := range []struct {
		method      string
		minPerByte  float64 // total / bytes read
		maxPerByte  float64
		description string
	}{
		{MethodTA, 1, 1, "bytes only"},
		{MethodTSVM, 5, math.Inf(1), "SVD flops on top of the bytes"},
	} {
		var mu sync.Mutex
		var last, total int64
		o := mergeOpts(c.method, bp, tps, filepath.Join(dir, c.method+".safetensors"), best(t))
		o.Progress = func(done, tot int64) {
			mu.Lock()
			defer mu.Unlock()
			last, total = max(last, done), tot
		}
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		// Workers report as they finish, so a smaller done may arrive
		// after a larger one; the largest must be the total.
		if last != total {
			t.Errorf("%s: progress ended at %d of %d", c.method, last, total)
		}
		ratio := float64(total) / float64(rep.BytesIn)
		if ratio < c.minPerByte || ratio > c.maxPerByte {
			t.Errorf("%s: progress total %d is %.3g x the %d bytes read, want %s", c.method, total, ratio, rep.BytesIn, c.description)
		}
	}
}
