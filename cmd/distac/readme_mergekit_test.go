package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeMergekitConfig runs the README's mergekit config unchanged and
// checks the result against mergekit's TIES, worked by hand: per tensor,
// keep int(density*n) of each task's largest |tau|, elect the sign of the
// weighted sum, divide the agreeing weighted entries by their weights.
func TestReadmeMergekitConfig(t *testing.T) {
	cfg := readmeBlock(t, "mergekit: config")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ties.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// tau_a: a = {1, -2, 0.5, 3}, b = {4, 1}; tau_b: a = {-1, 1, 2, -0.5}, b = {-2, 0.5}.
	writeF32(t, filepath.Join(dir, "base.safetensors"), map[string][]float32{"a": {0, 0, 0, 0}, "b": {1, 1}})
	writeF32(t, filepath.Join(dir, "a.safetensors"), map[string][]float32{"a": {1, -2, 0.5, 3}, "b": {5, 2}})
	writeF32(t, filepath.Join(dir, "b.safetensors"), map[string][]float32{"a": {-1, 1, 2, -0.5}, "b": {-1, 1.5}})
	out := filepath.Join(dir, "merged.safetensors")
	// The README's command, with the paths of the test's directory.
	if _, err := captureStdout(t, func() error {
		return runMerge([]string{"--config", filepath.Join(dir, "ties.yml"), "--out", out, "--quiet"})
	}); err != nil {
		t.Fatal(err)
	}
	// Tensor a (n = 4, density 0.5 keeps 2): tau_a keeps {_, -2, _, 3};
	// tau_b's magnitudes 1, 1, 2, 0.5 keep 2 and the first 1: {-1, _, 2, _}.
	// Weighted by 0.7 and 0.3: {0, -1.4, 0, 2.1} and {-0.3, 0, 0.6, 0}; the
	// sums' signs -, -, +, + leave one agreeing task per entry, divided by
	// its weight: {-1, -2, 2, 3}. Tensor b (keep 1): {4, _} and {-2, _},
	// weighted {2.8, -0.6}: + elects 2.8/0.7 = 4; the second entry is 0.
	want := map[string][]float32{"a": {-1, -2, 2, 3}, "b": {1 + 4, 1}}
	for name, w := range want {
		got := readF32(t, out, name)
		for i := range w {
			if math.Abs(float64(got[i]-w[i])) > 1e-6 {
				t.Fatalf("%s = %v, want %v", name, got, w)
			}
		}
	}
	// Without --out: a clear error, no output.
	err := runMerge([]string{"--config", filepath.Join(dir, "ties.yml"), "--quiet"})
	if err == nil || !strings.Contains(err.Error(), "--out") || !strings.Contains(err.Error(), "mergekit") {
		t.Fatalf("mergekit config without --out: err = %v", err)
	}
}
