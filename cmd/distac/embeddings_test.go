package main

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distac/distac/internal/testutil"
)

// writeNPY writes a float32 little-endian .npy (version 1.0) by hand: the
// magic, the version, a 2-byte header length, the dict literal padded with
// spaces and a newline so the data starts on a 64-byte boundary, the data.
func writeNPY(t *testing.T, path string, rows, cols int, fortran bool, w []float32) {
	t.Helper()
	order := "False"
	if fortran {
		order = "True"
	}
	hdr := "{'descr': '<f4', 'fortran_order': " + order + ", 'shape': (" + strconv.Itoa(rows) + ", " + strconv.Itoa(cols) + "), }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	for _, x := range w {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// distac head --embeddings: the rows of a .npy (C or Fortran order) become
// logit-scale * e_c / ||e_c||; a width other than the model's embed_dim,
// a 1-D array and a wrong dtype are errors.
func TestHeadFromEmbeddings(t *testing.T) {
	w := newWorld(t, `{"embed_dim": 3, "mlp_cfg": {"in_features": 64, "hidden": [8]}}`, "")
	emb := []float32{3, 0, 4, 0, 2, 0} // class 0 is (3, 0, 4), class 1 (0, 2, 0)
	npy := filepath.Join(w.dir, "classes.npy")
	writeNPY(t, npy, 2, 3, false, emb)
	out := filepath.Join(w.dir, "zs.head.safetensors")
	text := mustRun(t, runHead, "--embeddings", npy, "--logit-scale", "50", "--model", w.base, "--out", out)
	if !strings.Contains(text, "2 classes x 3 features") {
		t.Fatalf("output: %s", text)
	}
	got, shape := readTensorF32(t, out, "head")
	want := []float32{30, 0, 40, 0, 50, 0}
	if d := testutil.ApproxDiff(want, got, 1e-6); d != "" || shape[0] != 2 || shape[1] != 3 {
		t.Fatalf("head %v (-want +got):\n%s", shape, d)
	}
	// Fortran order: the same matrix stored by columns.
	fnpy := filepath.Join(w.dir, "classes-f.npy")
	writeNPY(t, fnpy, 2, 3, true, []float32{3, 0, 0, 2, 4, 0})
	out2 := filepath.Join(w.dir, "zs2.head.safetensors")
	mustRun(t, runHead, "--embeddings", fnpy, "--logit-scale", "50", "--out", out2)
	if got2, _ := readTensorF32(t, out2, "head"); testutil.ApproxDiff(want, got2, 1e-6) != "" {
		t.Fatalf("fortran order: %v", got2)
	}
	wide := filepath.Join(w.dir, "wide.npy")
	writeNPY(t, wide, 1, 4, false, []float32{1, 2, 3, 4})
	mustFail(t, w.dir, runHead, []string{"--embeddings", wide, "--model", w.base, "--out", filepath.Join(w.dir, "x.safetensors")}, "4 features", "embed_dim is 3")
	bad := filepath.Join(w.dir, "bad.npy")
	if err := os.WriteFile(bad, []byte("\x93NUMPY\x01\x00\x40\x00{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, w.dir, runHead, []string{"--embeddings", bad, "--out", filepath.Join(w.dir, "y.safetensors")}, "bad.npy")
}

// scripts/clip_text_head.py needs weights to run, so CI only compiles it.
func TestClipTextHeadScriptCompiles(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	cmd := exec.Command(py, "-m", "py_compile", filepath.Join("..", "..", "scripts", "clip_text_head.py"))
	cmd.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("py_compile: %v\n%s", err, out)
	}
}
