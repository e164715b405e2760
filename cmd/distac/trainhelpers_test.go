package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// Helpers for the training-command tests: tiny models, synthetic data sets
// whose classes a few steps can learn, and checks on what a command left
// on disk.

// tinyMLP is an 8 x 8 single-channel MLP with a preprocess_cfg, so the
// normalisation path runs too.
const tinyMLP = `{"embed_dim": 8, "mlp_cfg": {"in_features": 64, "hidden": [16]},
 "preprocess_cfg": {"mean": [0.5], "std": [0.25]}}`

// tinyViT is the smallest ViT the engine runs: 8 x 8 images in 4 x 4 patches.
const tinyViT = `{"embed_dim": 8, "vision_cfg": {"image_size": 8, "patch_size": 4, "width": 16, "layers": 1,
 "heads": 2, "in_channels": 1}, "preprocess_cfg": {"mean": [0.5], "std": [0.25]}}`

// writeFile writes text to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mkdir makes the directory dir and returns it.
func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// synthSet makes n labelled images of c x h x w in [0, 1]: class k is a
// fixed random pattern (from patternSeed) plus noise, so classes separate
// after a few steps and different pattern seeds make different tasks.
func synthSet(n, classes, c, h, w int, patternSeed, noiseSeed uint64) *data.Set {
	per := c * h * w
	pr := rand.New(rand.NewPCG(patternSeed, 1))
	patterns := make([]float32, classes*per)
	for i := range patterns {
		patterns[i] = pr.Float32()
	}
	nr := rand.New(rand.NewPCG(noiseSeed, 2))
	s := &data.Set{Name: "synth", C: c, H: h, W: w, Classes: classes, Images: make([]float32, n*per), Labels: make([]int32, n)}
	for i := range n {
		k := i % classes
		s.Labels[i] = int32(k)
		for j := range per {
			v := 0.7*patterns[k*per+j] + 0.3*nr.Float32()
			s.Images[i*per+j] = v
		}
	}
	return s
}

// writeSet writes s as a safetensors data set at dir/name.
func writeSet(t *testing.T, dir, name string, s *data.Set) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := data.WriteTensors(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a command's entry point with stdout captured.
func run(t *testing.T, fn func([]string) error, args ...string) (string, error) {
	t.Helper()
	return captureStdout(t, func() error { return fn(args) })
}

// mustRun runs a command that must succeed and returns what it printed.
func mustRun(t *testing.T, fn func([]string) error, args ...string) string {
	t.Helper()
	out, err := run(t, fn, args...)
	if err != nil {
		t.Fatalf("%v: %v\noutput:\n%s", args, err, out)
	}
	return out
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// mustFail runs a command that must fail with an error containing every
// one of wants, and checks that it left dir exactly as it found it: no
// output, no temporary file.
func mustFail(t *testing.T, dir string, fn func([]string) error, args []string, wants ...string) {
	t.Helper()
	before := listDir(t, dir)
	out, err := run(t, fn, args...)
	if err == nil {
		t.Fatalf("%v succeeded, want an error with %q\noutput:\n%s", args, wants, out)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v: error %q lacks %q", args, err, w)
		}
	}
	if d := cmp.Diff(before, listDir(t, dir)); d != "" {
		t.Errorf("%v: the failed command changed %s (-before +after):\n%s", args, dir, d)
	}
}

// metadata returns the __metadata__ of a safetensors file.
func metadata(t *testing.T, path string) map[string]string {
	t.Helper()
	ck := testutil.Open(t, path)
	return ck.Files[0].Metadata
}

// loadValues loads a checkpoint distac wrote (config and prefix from its
// metadata) and returns its parameters as host floats.
func loadValues(t *testing.T, path string) (*model.Config, []float32) {
	t.Helper()
	e, err := openEngine("ref", 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := testutil.Open(t, path)
	cfg, prefix, err := model.ConfigOf(ck)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.LoadParams(e, ck, model.LayoutOf(cfg), prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free(e)
	v, err := ffi.ReadF32(e, p.All())
	if err != nil {
		t.Fatal(err)
	}
	return cfg, v
}

// distance is ||a - b||_2 in float64.
func distance(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// readTensorF32 reads an F32 tensor of a safetensors file with its shape.
func readTensorF32(t *testing.T, path, name string) ([]float32, []uint64) {
	t.Helper()
	ck := testutil.Open(t, path)
	ts, ok := ck.Tensor(name)
	if !ok {
		t.Fatalf("%s has no tensor %s", path, name)
	}
	return readF32(t, path, name), ts.Shape
}

// decodeJSON unmarshals a command's JSON output.
func decodeJSON(t *testing.T, text string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, text)
	}
}

// saveValues writes a checkpoint of cfg's model with the parameter values vals.
func saveValues(t *testing.T, path string, cfg *model.Config, vals []float32) {
	t.Helper()
	e, err := openEngine("ref", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.NewParams(e, model.LayoutOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free(e)
	if err := e.Upload(p.All(), ffi.F32Bytes(vals)); err != nil {
		t.Fatal(err)
	}
	if err := model.SaveParams(e, cfg, p, path, model.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
}
