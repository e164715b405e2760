package merge

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// A merged value that the output dtype cannot hold (an alpha too large,
// tasks whose sum overflows f32, a value past f16's 65504) is an error naming
// the tensor and the element, and leaves no output.
func TestNonFiniteOutput(t *testing.T) {
	base, tasks := makeModels(31, 2, safetensors.F32)
	big := func(v float64) []testModel {
		out := []testModel{cloneModel(tasks[0]), cloneModel(tasks[1])}
		for _, m := range out {
			m.get("long").vals[100] = v
		}
		return out
	}
	for _, c := range []struct {
		name   string
		tasks  []testModel
		method string
		alpha  float64
		dtype  string
		want   []string
	}{
		{"alpha 1e40", tasks, MethodTA, 1e40, "f32", []string{`tensor "`, "at element", "Inf in F32", "alpha 1e+40"}},
		{"sum past f32", big(3e38), MethodTA, 1, "f32", []string{`tensor "long"`, "element 100", "+Inf"}},
		{"past f16", big(5e4), MethodMean, 1.5, "f16", []string{`tensor "long"`, "element 100", "in F16"}},
		{"matrix past f16", tasks, MethodTSVM, 1e6, "f16", []string{`tensor "`, "in F16"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			bp, tps := writeSet(t, in, base, c.tasks)
			o := mergeOpts(c.method, bp, tps, filepath.Join(out, "m.safetensors"), best(t))
			o.Alpha, o.OutDType = c.alpha, c.dtype
			_, err := Run(context.Background(), o)
			if err == nil {
				t.Fatal("merge succeeded")
			}
			if !errors.Is(err, ErrNonFinite) {
				t.Errorf("error %q is not ErrNonFinite", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			onlyFiles(t, out)
		})
	}
}

// An input rewritten in place, or truncated, while the merge reads it is an
// error naming it (never an output mixing two versions, never a crash on
// the vanished pages), and leaves no output. The change is made from the
// progress callback, after the first chunks are done.
func TestInputChangedDuringMerge(t *testing.T) {
	base, tasks := makeModels(32, 2, safetensors.F32)
	for _, c := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"rewritten in place", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			st, _ := f.Stat()
			_, err = f.WriteAt([]byte{0x40, 0x40, 0x40, 0x40}, st.Size()-4)
			return err
		}, "changed while being read"},
		{"truncated", func(p string) error { return os.Truncate(p, 512) }, ""},
	} {
		for _, method := range []string{MethodTA, MethodTIES, MethodTSVM} {
			t.Run(c.name+"/"+method, func(t *testing.T) {
				in, out := t.TempDir(), t.TempDir()
				bp, tps := writeSet(t, in, base, tasks)
				o := mergeOpts(method, bp, tps, filepath.Join(out, "m.safetensors"), best(t))
				o.Threads, o.ChunkElems = 1, 16
				var once sync.Once
				var changeErr error
				o.Progress = func(done, total int64) {
					once.Do(func() { changeErr = c.change(tps[1]) })
				}
				_, err := Run(context.Background(), o)
				if changeErr != nil {
					t.Fatal(changeErr)
				}
				if err == nil {
					t.Fatal("merge succeeded")
				}
				t.Log(err)
				if !strings.Contains(err.Error(), "taskb.safetensors") || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %q does not name the file (and %q)", err, c.want)
				}
				onlyFiles(t, out)
			})
		}
	}
}

// The metadata records a value that parses back to what was used.
func TestMetadataRoundTrip(t *testing.T) {
	for _, m := range Methods {
		v, err := m.Resolve(nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]string{}
		for k, text := range m.Metadata(v) {
			params[strings.TrimPrefix(k, "distac.")] = text
		}
		back, err := m.Resolve(params, 3)
		if err != nil {
			t.Fatalf("%s: metadata %v does not parse back: %v", m.Name, params, err)
		}
		for k, x := range v {
			if m.Param(k); !equalValue(x, back[k]) {
				t.Errorf("%s: %s = %v, metadata gives back %v", m.Name, k, x, back[k])
			}
		}
	}
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []float64:
		y := b.([]float64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Tasks whose recorded preprocess_cfg differs from the base's are refused
// (the merge would carry the base's and silently mis-normalise); the same
// preprocessing is carried into the merged model.
func TestMergePreprocessing(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(33, 2, safetensors.F32)
	cfg := func(pp string) map[string]string {
		return map[string]string{checkpoint.ModelConfigKey: `{"embed_dim": 4` + pp + `}`}
	}
	a, b := `, "preprocess_cfg": {"mean": [0.2], "std": [0.3]}`, `, "preprocess_cfg": {"std": [0.25], "mean": [0.5]}`
	write := func(name string, m testModel, meta map[string]string) string {
		p := filepath.Join(dir, name)
		writeModel(t, p, m, meta)
		return p
	}
	bp := write("base.safetensors", base, cfg(a))
	same := write("same.safetensors", tasks[0], cfg(`, "preprocess_cfg": {"std": [0.3], "mean": [0.2]}`))
	other := write("other.safetensors", tasks[1], cfg(b))
	none := write("none.safetensors", tasks[1], cfg(""))
	unknown := write("unknown.safetensors", tasks[1], nil)
	for _, c := range []struct {
		task string
		ok   bool
	}{{other, false}, {none, false}, {unknown, true}, {same, true}} {
		o := mergeOpts(MethodTA, bp, []string{same, c.task}, filepath.Join(dir, "m.safetensors"), ffi.NewRef())
		o.Force = true
		_, err := Run(context.Background(), o)
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "preprocess_cfg")) {
			t.Errorf("%s: %v", filepath.Base(c.task), err)
		}
		if err == nil {
			f := mergedFile(t, o.Out)
			if !strings.Contains(f.Metadata[checkpoint.ModelConfigKey], `"mean": [0.2]`) {
				t.Errorf("the merged model lost the base's preprocess_cfg: %q", f.Metadata[checkpoint.ModelConfigKey])
			}
		}
	}
}
