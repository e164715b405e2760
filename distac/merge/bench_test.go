package merge

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// Benchmarks run only under -bench. BenchmarkMerge streams T synthetic
// checkpoints of 2048x2048 f32 matrices (16 MiB each); b.SetBytes counts the
// bytes of the base and the tasks, so MB/s compares with reading the files.
// scripts/bench_merge.sh does the same at 8 x 512 MiB with peak RSS.

// writeSynthetic writes a checkpoint of nMat 2048x2048 f32 matrices, each
// base + scale * noise, with a cheap generator (the benchmark is not about
// random numbers).
func writeSynthetic(tb testing.TB, path string, nMat int, seed uint64, scale float32) {
	tb.Helper()
	var outs []checkpoint.OutTensor
	for i := 0; i < nMat; i++ {
		outs = append(outs, checkpoint.OutTensor{Name: fmt.Sprintf("layers.%d.weight", i), DType: safetensors.F32, Shape: []uint64{2048, 2048}})
	}
	w, err := checkpoint.Create(path, outs, map[string]string{"format": "pt"}, 0, true, nil)
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 4*2048*2048)
	for i := range outs {
		s := uint64(i+1) * 0x9E3779B97F4A7C15
		n := seed*0x2545F4914F6CDD1D + 1
		for k := 0; k < 2048*2048; k++ {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			n ^= n << 13
			n ^= n >> 7
			n ^= n << 17
			base := float32(int32(s>>32)) * 0x1p-36
			noise := float32(int32(n>>32)) * 0x1p-31
			binary.LittleEndian.PutUint32(buf[4*k:], math.Float32bits(base+scale*noise))
		}
		if err := w.WriteAt(i, 0, buf); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// syntheticSet writes a base and T tasks of nMat matrices into dir once per
// process (the files are reused across benchmark runs).
func syntheticSet(b *testing.B, T, nMat int) (string, []string) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("distac-bench-%d-%d", T, nMat))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	base := filepath.Join(dir, "base.safetensors")
	if _, err := os.Stat(base); err != nil {
		writeSynthetic(b, base, nMat, 0, 0)
	}
	var tasks []string
	for t := 0; t < T; t++ {
		p := filepath.Join(dir, fmt.Sprintf("task%d.safetensors", t))
		if _, err := os.Stat(p); err != nil {
			writeSynthetic(b, p, nMat, uint64(t+1), 1e-3*float32(t+1))
		}
		tasks = append(tasks, p)
	}
	return base, tasks
}

func BenchmarkMerge(b *testing.B) {
	const T, nMat = 8, 4 // 8 tasks of 64 MiB
	base, tasks := syntheticSet(b, T, nMat)
	be, err := ffi.Open("cpu", 1)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "out.safetensors")
	for _, method := range []string{MethodTA, MethodTIES, MethodConsensus, MethodDARE} {
		b.Run(fmt.Sprintf("%s/%dx%dMiB/%s", method, T, 16*nMat, be.Name()), func(b *testing.B) {
			o := Options{Method: MethodTA, Alpha: 1}
			o.Method, o.Base, o.Tasks, o.Out, o.Backend, o.Force = method, base, tasks, out, be, true
			b.SetBytes(int64(T+1) * int64(nMat) * 16 << 20)
			for b.Loop() {
				if _, err := Run(context.Background(), o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTSVMViTBlock merges one ViT-B/32 residual block's weights (8
// tasks): the per-task SVD work of TSV-M, through gonum's LAPACK.
func BenchmarkTSVMViTBlock(b *testing.B) {
	dir := b.TempDir()
	shapes := []struct {
		name  string
		shape []uint64
	}{
		{"attn.in_proj_weight", []uint64{2304, 768}}, {"attn.out_proj.weight", []uint64{768, 768}},
		{"mlp.c_fc.weight", []uint64{3072, 768}}, {"mlp.c_proj.weight", []uint64{768, 3072}},
	}
	const T = 8
	var base testModel
	for _, s := range shapes {
		n, _ := checkpoint.NumElements(s.shape)
		base = append(base, &testTensor{name: s.name, dtype: safetensors.F32, shape: s.shape, vals: make([]float64, n)})
	}
	var tasks []testModel
	for t := 0; t < T; t++ {
		m := cloneModel(base)
		for _, tt := range m {
			x := uint64(t+1) * 0x9E3779B97F4A7C15
			for i := range tt.vals {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				tt.vals[i] = float64(int32(x>>32)) * 0x1p-40
			}
		}
		tasks = append(tasks, m)
	}
	bp, tps := writeSet(b, dir, base, tasks)
	be, err := ffi.Open("cpu", 1)
	if err != nil {
		b.Fatal(err)
	}
	o := Options{Method: MethodTA, Alpha: 1}
	o.Method, o.Base, o.Tasks, o.Backend, o.Force = MethodTSVM, bp, tps, be, true
	o.Out = filepath.Join(dir, "out.safetensors")
	for b.Loop() {
		if _, err := Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
