package conformance

// Conformance of the attention core (Trainer.AttentionForward/Backward) on
// every backend against float64 references written here, a finite-difference
// check of the backward through the reference backend, the same bits for any
// thread count, and bad arguments that must write nothing.

import (
	"fmt"
	"math"
	"testing"

	"github.com/distac/distac/ffi"
)

// attShape is batch x seq x heads x head_dim.
type attShape struct{ batch, seq, heads, dh int }

func (s attShape) String() string { return fmt.Sprintf("%dx%dx%dx%d", s.batch, s.seq, s.heads, s.dh) }

func (s attShape) rows() int  { return s.batch * s.seq }
func (s attShape) d() int     { return s.heads * s.dh }
func (s attShape) probs() int { return s.batch * s.heads * s.seq * s.seq }

// attShapes cover seq 1, 17 and 50 (ViT sizes) and 70 (the backward's
// allocated scratch), head_dim 1, 3, 16, 64 and 65 (SIMD tails), heads
// 1..12 and batch 1..5.
var attShapes = []attShape{
	{1, 1, 1, 1}, {2, 17, 4, 16}, {1, 50, 12, 64}, {3, 17, 3, 65}, {5, 3, 2, 3},
	{2, 50, 1, 1}, {4, 1, 5, 16}, {1, 17, 12, 3}, {2, 9, 7, 64}, {1, 70, 2, 16},
	{5, 17, 6, 16}, {1, 50, 8, 65}, {3, 2, 11, 1},
}

// trAttention64 is the float64 forward from dense qkv (rows x 3D): out
// (rows x D) and P (pair-major, seq x seq each).
func trAttention64(s attShape, scale float32, qkv []float32) (out, p []float64) {
	d := s.d()
	out, p = make([]float64, s.rows()*d), make([]float64, s.probs())
	at := func(tok, col int) float64 { return float64(qkv[tok*3*d+col]) }
	for b := range s.batch {
		for h := range s.heads {
			for i := range s.seq {
				row := p[((b*s.heads+h)*s.seq+i)*s.seq:][:s.seq]
				m := math.Inf(-1)
				for j := range row {
					var dot float64
					for c := range s.dh {
						dot += at(b*s.seq+i, h*s.dh+c) * at(b*s.seq+j, d+h*s.dh+c)
					}
					row[j] = float64(scale) * dot
					m = math.Max(m, row[j])
				}
				var sum float64
				for j := range row {
					row[j] = math.Exp(row[j] - m)
					sum += row[j]
				}
				for j := range row {
					row[j] /= sum
				}
				for c := range s.dh {
					var o float64
					for j, pj := range row {
						o += pj * at(b*s.seq+j, 2*d+h*s.dh+c)
					}
					out[(b*s.seq+i)*d+h*s.dh+c] = o
				}
			}
		}
	}
	return out, p
}

// trAttentionBackward64 is the float64 backward from dense qkv, the op's
// fp32 probs and dense dout (rows x D): dqkv (rows x 3D) and per element the
// size of its terms. dS = P (dP - t) cancels, so dQ and dK are measured
// against |scale| sum P (|dP| + |t|) |K| (resp. |Q|), dV against sum P |dout|.
func trAttentionBackward64(s attShape, scale float32, qkv, probs, dout []float32) (dqkv, size []float64) {
	d, seq := s.d(), s.seq
	dqkv, size = make([]float64, s.rows()*3*d), make([]float64, s.rows()*3*d)
	at := func(tok, col int) float64 { return float64(qkv[tok*3*d+col]) }
	ds, dsa := make([]float64, seq*seq), make([]float64, seq*seq)
	sc := float64(scale)
	for b := range s.batch {
		for h := range s.heads {
			p := func(i, j int) float64 { return float64(probs[((b*s.heads+h)*seq+i)*seq+j]) }
			g := func(i, c int) float64 { return float64(dout[(b*seq+i)*d+h*s.dh+c]) }
			for i := range seq {
				var t float64
				for j := range seq {
					var dp float64
					for c := range s.dh {
						dp += g(i, c) * at(b*seq+j, 2*d+h*s.dh+c)
					}
					ds[i*seq+j] = dp
					t += dp * p(i, j)
				}
				for j := range seq {
					dsa[i*seq+j] = p(i, j) * (math.Abs(ds[i*seq+j]) + math.Abs(t))
					ds[i*seq+j] = p(i, j) * (ds[i*seq+j] - t)
				}
			}
			for i := range seq {
				for c := range s.dh {
					var dq, dk, dv, zq, zk, zv float64
					for j := range seq {
						k, q := at(b*seq+j, d+h*s.dh+c), at(b*seq+j, h*s.dh+c)
						dq, zq = dq+ds[i*seq+j]*k, zq+dsa[i*seq+j]*math.Abs(k)
						dk, zk = dk+ds[j*seq+i]*q, zk+dsa[j*seq+i]*math.Abs(q)
						dv, zv = dv+p(j, i)*g(j, c), zv+p(j, i)*math.Abs(g(j, c))
					}
					o := (b*seq+i)*3*d + h*s.dh + c
					dqkv[o], dqkv[o+d], dqkv[o+2*d] = sc*dq, sc*dk, dv
					size[o], size[o+d], size[o+2*d] = math.Abs(sc)*zq, math.Abs(sc)*zk, zv
				}
			}
		}
	}
	return dqkv, size
}

func testTrainAttention(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	for n, s := range attShapes {
		pad := n % 3 // pad 0: ld == 3D (and D) as well
		t.Run(fmt.Sprintf("%v_pad%d", s, pad), func(t *testing.T) {
			rows, d := s.rows(), s.d()
			scale := float32(1 / math.Sqrt(float64(s.dh)))
			qkv, dout := randF32(rng, rows*3*d, 1), randF32(rng, rows*d, 1)
			qm := newTrMat(t, be, rng, rows, 3*d, pad, qkv)
			pr := newTrVec(t, be, rng, s.probs(), nil)
			om, om2 := newTrMat(t, be, rng, rows, d, pad, nil), newTrMat(t, be, rng, rows, d, pad+1, nil)
			if err := tr.AttentionForward(s.batch, s.seq, s.heads, s.dh, scale, qm.Mat(), pr.View, om.Mat()); err != nil {
				t.Fatal(err)
			}
			wout, wp := trAttention64(s, scale, qkv)
			out, probs := om.read(t), pr.F32(t)
			trCheck(t, "out", out, wout, trTol)
			trCheck(t, "probs", probs, wp, trTol)

			// Inference, probs not stored: the same bits.
			if err := tr.AttentionForward(s.batch, s.seq, s.heads, s.dh, scale, qm.Mat(), ffi.Vec{}, om2.Mat()); err != nil {
				t.Fatal(err)
			}
			for i, v := range om2.read(t) {
				if math.Float32bits(v) != math.Float32bits(out[i]) {
					t.Fatalf("out[%d] without probs %g, with probs %g", i, v, out[i])
				}
			}

			gm := newTrMat(t, be, rng, rows, d, pad, dout)
			dm := newTrMat(t, be, rng, rows, 3*d, pad, nil) // poisoned: every Q/K/V column must be written
			if err := tr.AttentionBackward(s.batch, s.seq, s.heads, s.dh, scale, qm.Mat(), pr.View, gm.Mat(), dm.Mat()); err != nil {
				t.Fatal(err)
			}
			want, size := trAttentionBackward64(s, scale, qkv, probs, dout)
			trCheckScaled(t, "dqkv", dm.read(t), want, size, trTol)
		})
	}
}

// testTrainAttentionThreads: forward (out, probs) and backward have the same
// bits for 1, 2 and 3 threads, at both ViT shapes (big enough for 3 threads).
func testTrainAttentionThreads(t *testing.T, be0 ffi.Backend) {
	for _, s := range []attShape{{128, 17, 4, 16}, {8, 50, 12, 64}} {
		rng := newRNG(t)
		rows, d := s.rows(), s.d()
		qkv, dout := randF32(rng, rows*3*d, 1), randF32(rng, rows*d, 1)
		var first [][]float32
		for threads := 1; threads <= 3; threads++ {
			be := trainer(t, withThreads(t, be0, threads))
			qm, gm := newTrMat(t, be, rng, rows, 3*d, 0, qkv), newTrMat(t, be, rng, rows, d, 0, dout)
			om, dm := newTrMat(t, be, rng, rows, d, 0, nil), newTrMat(t, be, rng, rows, 3*d, 0, nil)
			pr := newTrVec(t, be, rng, s.probs(), nil)
			if err := be.AttentionForward(s.batch, s.seq, s.heads, s.dh, 0.25, qm.Mat(), pr.View, om.Mat()); err != nil {
				t.Fatal(err)
			}
			if err := be.AttentionBackward(s.batch, s.seq, s.heads, s.dh, 0.25, qm.Mat(), pr.View, gm.Mat(), dm.Mat()); err != nil {
				t.Fatal(err)
			}
			got := [][]float32{om.read(t), pr.F32(t), dm.read(t)}
			if threads == 1 {
				first = got
				continue
			}
			for k, name := range []string{"out", "probs", "dqkv"} {
				for i := range got[k] {
					if math.Float32bits(got[k][i]) != math.Float32bits(first[k][i]) {
						t.Fatalf("%v %s[%d] with %d threads: %g, with 1: %g", s, name, i, threads, got[k][i], first[k][i])
					}
				}
			}
		}
	}
}

// testTrainAttentionFiniteDifferences checks the backward against a
// fourth-order central difference of its forward for L = sum(w * out), as
// testTrainFiniteDifferences (inputs on a 2^-12 grid, exact steps).
func testTrainAttentionFiniteDifferences(t *testing.T, be ffi.Backend) {
	ref, rng := trainer(t, be), newRNG(t)
	s := attShape{2, 5, 2, 3}
	rows, d := s.rows(), s.d()
	const scale = 0.6
	qkv, w := trGrid(rng, rows*3*d, 1.5, 0), randF32(rng, rows*d, 1)
	fd := fdData{t, ref}
	mat, read := fd.mat, fd.read
	loss := func() float64 {
		out := mat(make([]float32, rows*d), d)
		if err := ref.AttentionForward(s.batch, s.seq, s.heads, s.dh, scale, mat(qkv, 3*d), ffi.Vec{}, out); err != nil {
			t.Fatal(err)
		}
		var l float64
		for i, v := range read(out, rows*d) {
			l += float64(w[i]) * float64(v)
		}
		return l
	}
	qm, out, dq := mat(qkv, 3*d), mat(make([]float32, rows*d), d), mat(make([]float32, rows*3*d), 3*d)
	probs := ffi.All(mat(make([]float32, s.probs()), 1).Buf)
	if err := ref.AttentionForward(s.batch, s.seq, s.heads, s.dh, scale, qm, probs, out); err != nil {
		t.Fatal(err)
	}
	if err := ref.AttentionBackward(s.batch, s.seq, s.heads, s.dh, scale, qm, probs, mat(w, d), dq); err != nil {
		t.Fatal(err)
	}
	grad := read(dq, rows*3*d)
	for _, part := range []struct {
		name string
		col  int
	}{{"dQ", 0}, {"dK", d}, {"dV", 2 * d}} {
		// trFD picks coordinates at random; check each of Q, K and V by
		// differencing a view of qkv restricted to that part's columns.
		idx := make([]int, 0, rows*d)
		for r := range rows {
			for c := range d {
				idx = append(idx, r*3*d+part.col+c)
			}
		}
		p, g := make([]float32, len(idx)), make([]float32, len(idx))
		for k, i := range idx {
			p[k], g[k] = qkv[i], grad[i]
		}
		trFD(t, rng, part.name, p, g, func() float64 {
			for k, i := range idx {
				qkv[i] = p[k]
			}
			return loss()
		})
		for k, i := range idx {
			qkv[i] = p[k]
		}
	}
}

// testTrainAttentionErrors: bad shapes, scales, views, overlaps and foreign
// buffers are errors, and nothing changes; batch 0 is a no-op.
func testTrainAttentionErrors(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	s := attShape{2, 3, 2, 4} // rows 6, D 8
	rows, d := s.rows(), s.d()
	q, g := newTrMat(t, be, rng, rows, 3*d, 0, randF32(rng, rows*3*d, 1)), newTrMat(t, be, rng, rows, d, 0, randF32(rng, rows*d, 1))
	o, dq := newTrMat(t, be, rng, rows, d, 0, nil), newTrMat(t, be, rng, rows, 3*d, 0, nil)
	p := newTrVec(t, be, rng, s.probs(), randF32(rng, s.probs(), 1))
	regions := []*region{q.r, g.r, o.r, dq.r, p}
	i32, err := be.Alloc(ffi.I32, s.probs())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(i32)
	other := otherBackend(be)
	foreign, err := other.Alloc(ffi.F32, rows*d)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free(foreign)

	Q, G, O, DQ, P := q.Mat(), g.Mat(), o.Mat(), dq.Mat(), p.View
	ld := func(m ffi.Mat, n int) ffi.Mat { m.LD = n; return m }
	fwd := func(b, sq, h, dh int, sc float32, qkv ffi.Mat, probs ffi.Vec, out ffi.Mat) func() error {
		return func() error { return tr.AttentionForward(b, sq, h, dh, sc, qkv, probs, out) }
	}
	bwd := func(sc float32, qkv ffi.Mat, probs ffi.Vec, dout, dqkv ffi.Mat) func() error {
		return func() error { return tr.AttentionBackward(s.batch, s.seq, s.heads, s.dh, sc, qkv, probs, dout, dqkv) }
	}
	// out inside q's buffer; probs inside o's buffer.
	outInQ := ffi.Mat{Buf: Q.Buf, Off: Q.Off + 3, LD: d}
	probsInOut := ffi.Vec{Buf: O.Buf, Off: O.Off, N: s.probs()}
	cases := []errorCase{
		{"seq 0", fwd(2, 0, 2, 4, 1, Q, P, O)},
		{"heads 0", fwd(2, 3, 0, 4, 1, Q, P, O)},
		{"head dim 0", fwd(2, 3, 2, 0, 1, Q, P, O)},
		{"negative batch", fwd(-1, 3, 2, 4, 1, Q, P, O)},
		{"NaN scale", fwd(2, 3, 2, 4, float32(math.NaN()), Q, P, O)},
		{"inf scale", fwd(2, 3, 2, 4, float32(math.Inf(1)), Q, P, O)},
		{"overflowing shape", fwd(2, 3, math.MaxInt/2, 4, 1, Q, P, O)},
		{"qkv short ld", fwd(2, 3, 2, 4, 1, ld(Q, 3*d-1), P, O)},
		{"qkv overrun", fwd(3, 3, 2, 4, 1, Q, ffi.Vec{}, O)},
		{"out short ld", fwd(2, 3, 2, 4, 1, Q, P, ld(O, d-1))},
		{"probs length", fwd(2, 3, 2, 4, 1, Q, ffi.Vec{Buf: P.Buf, Off: P.Off, N: P.N - 1}, O)},
		{"probs dtype", fwd(2, 3, 2, 4, 1, Q, ffi.All(i32), O)},
		{"out overlaps qkv", fwd(2, 3, 2, 4, 1, Q, P, outInQ)},
		{"probs in out", fwd(2, 3, 2, 4, 1, Q, probsInOut, O)},
		{"out foreign", fwd(2, 3, 2, 4, 1, Q, P, ffi.Mat{Buf: foreign, LD: d})},
		{"backward probs none", bwd(1, Q, ffi.Vec{}, G, DQ)},
		{"backward NaN scale", bwd(float32(math.NaN()), Q, P, G, DQ)},
		{"backward dout short ld", bwd(1, Q, P, ld(G, d-1), DQ)},
		{"backward dqkv short ld", bwd(1, Q, P, G, ld(DQ, 3*d-1))},
		{"backward dqkv is qkv", bwd(1, Q, P, G, Q)},
		{"backward dout in dqkv", bwd(1, Q, P, ffi.Mat{Buf: DQ.Buf, Off: DQ.Off + 5, LD: d}, DQ)},
		{"backward probs in dqkv", bwd(1, Q, ffi.Vec{Buf: DQ.Buf, Off: DQ.Off, N: s.probs()}, G, DQ)},
		{"backward dout foreign", bwd(1, Q, P, ffi.Mat{Buf: foreign, LD: d}, DQ)},
	}
	expectErrors(t, regions, cases)
	// batch 0: nothing to do, no error, nothing written.
	unchanged := snapshot(t, regions)
	if err := tr.AttentionForward(0, 3, 2, 4, 1, Q, ffi.Vec{Buf: P.Buf, Off: P.Off}, O); err != nil {
		t.Errorf("batch 0 forward: %v", err)
	}
	if err := tr.AttentionBackward(0, 3, 2, 4, 1, Q, ffi.Vec{Buf: P.Buf, Off: P.Off}, G, DQ); err != nil {
		t.Errorf("batch 0 backward: %v", err)
	}
	unchanged(t)
}
