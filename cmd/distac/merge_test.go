package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/merge"
)

// writeF32 writes a safetensors file of f32 tensors (name -> values, 1-D).
func writeF32(t *testing.T, path string, tensors map[string][]float32) {
	t.Helper()
	header := map[string]any{}
	var data bytes.Buffer
	for _, name := range []string{"a", "b"} {
		x := tensors[name]
		start := data.Len()
		binary.Write(&data, binary.LittleEndian, x)
		header[name] = map[string]any{"dtype": "F32", "shape": []int{len(x)}, "data_offsets": []int{start, data.Len()}}
	}
	h, _ := json.Marshal(header)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readF32 reads tensor name of a safetensors file written by distac.
func readF32(t *testing.T, path, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var info struct {
		DType   string `json:"dtype"`
		Offsets []int  `json:"data_offsets"`
	}
	if err := json.Unmarshal(header[name], &info); err != nil || info.DType != "F32" {
		t.Fatalf("tensor %s: %s (%v)", name, header[name], err)
	}
	raw := b[8+int(n)+info.Offsets[0] : 8+int(n)+info.Offsets[1]]
	x := make([]float32, len(raw)/4)
	binary.Read(bytes.NewReader(raw), binary.LittleEndian, x)
	return x
}

// captureStdout runs fn with os.Stdout redirected and returns what it printed.
func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	return capture(&os.Stdout, fn)
}

// captureStderr runs fn with os.Stderr redirected and returns what it printed.
func captureStderr(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	return capture(&os.Stderr, fn)
}

// capture runs fn with *f a pipe and returns what fn wrote to it.
func capture(f **os.File, fn func() error) (string, error) {
	r, w, _ := os.Pipe()
	old := *f
	*f = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	err := fn()
	w.Close()
	*f = old
	return <-done, err
}

func TestMergeCLI(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.safetensors")
	t1 := filepath.Join(dir, "t1.safetensors")
	t2 := filepath.Join(dir, "t2.safetensors")
	writeF32(t, base, map[string][]float32{"a": {1, 2, 3}, "b": {0, 0}})
	writeF32(t, t1, map[string][]float32{"a": {2, 2, 3}, "b": {1, 0}})
	writeF32(t, t2, map[string][]float32{"a": {1, 4, 3}, "b": {0, -8}})
	out := filepath.Join(dir, "merged.safetensors")
	args := []string{"--method", "ta", "--base", base, "--task", t1, "--task", t2, "--alpha", "0.5", "--quiet", "--out", out}
	if _, err := captureStdout(t, func() error { return runMerge(args) }); err != nil {
		t.Fatal(err)
	}
	// theta = base + 0.5 * ((t1 - base) + (t2 - base))
	for name, want := range map[string][]float32{"a": {1.5, 3, 3}, "b": {0.5, -4}} {
		got := readF32(t, out, name)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
	}
	before, _ := os.ReadFile(out)
	_, err := captureStdout(t, func() error { return runMerge(args) })
	if err == nil || !strings.Contains(err.Error(), "force") {
		t.Fatalf("second merge without --force: err = %v", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Fatal("refused merge changed the existing output")
	}
	if err := runMerge([]string{"--method", "nope", "--base", base, "--task", t1, "--out", filepath.Join(dir, "x.safetensors")}); err == nil {
		t.Fatal("unknown method accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.safetensors")); !os.IsNotExist(err) {
		t.Fatal("failed merge left an output file")
	}

	text, err := captureStdout(t, func() error { return runDiagnose([]string{"--base", base, "--task", t1, "--task", t2}) })
	if err != nil {
		t.Fatal(err)
	}
	// ||tau1|| = sqrt(1+1) , ||tau2|| = sqrt(4+64): ratio sqrt(68/2) = 5.83 -> a warning.
	if !strings.Contains(text, fmt.Sprintf("%.2f", math.Sqrt(34))) || !strings.Contains(strings.ToLower(text), "warn") {
		t.Fatalf("diagnose output lacks the ratio %.2f or the warning:\n%s", math.Sqrt(34), text)
	}

	// --json says the same, in the fields the scale-out recipe reads.
	text, err = captureStdout(t, func() error { return runDiagnose([]string{"--base", base, "--task", t1, "--task", t2, "--json"}) })
	if err != nil {
		t.Fatal(err)
	}
	var d merge.DiagnoseReport
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("diagnose --json: %v\n%s", err, text)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }
	if len(d.Tasks) != 2 || d.Tasks[0].Path != t1 || !near(d.MinNorm, math.Sqrt(2)) || !near(d.MaxNorm, math.Sqrt(68)) ||
		d.NormRatio == nil || !near(*d.NormRatio, math.Sqrt(34)) || !d.NormMismatch || len(d.Cosines) != 2 {
		t.Errorf("diagnose --json: %+v", d)
	}
	jsonOut := filepath.Join(dir, "json.safetensors")
	text, err = captureStdout(t, func() error {
		return runMerge([]string{"--method", "ties", "--base", base, "--task", t1, "--task", t2, "--out", jsonOut, "--json", "--quiet"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var m merge.Summary
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("merge --json: %v\n%s", err, text)
	}
	if m.Method != "ties" || len(m.Outputs) != 1 || m.Outputs[0] != jsonOut || len(m.Tasks) != 2 || !near(m.Tasks[1].Norm, math.Sqrt(68)) ||
		m.Tasks[0].TiesThreshold == nil || m.Params["k"] == nil {
		t.Errorf("merge --json: %+v", m)
	}
}
