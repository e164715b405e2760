package ffi

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Check is the result of one op family's self-check on a backend.
type Check struct {
	Op      string
	RelErr  float64 // ||got - ref|| / ||ref|| against the reference backend
	Bound   float64
	Elapsed time.Duration
	Err     error
	// Skipped: the backend does not have the op (Err wraps
	// ErrNotImplemented); not a failure.
	Skipped bool
}

// OK reports whether the check ran and stayed within its bound, or was
// skipped for an op the backend does not have.
func (c Check) OK() bool { return c.Skipped || (c.Err == nil && c.RelErr <= c.Bound) }

// SelfCheck runs every op family once on small random inputs on be and on the
// reference backend and compares the outputs. It is quick (milliseconds) and
// meant for `distac hw` and smoke tests; the conformance tests are thorough.
func SelfCheck(be Backend) []Check {
	ref := NewRef()
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Check
	for _, c := range selfChecks {
		seed := rng.Uint64() // the same inputs on both backends
		start := time.Now()
		got, err := c.run(be, rand.New(rand.NewPCG(seed, 7)))
		elapsed := time.Since(start)
		var e float64
		if err == nil {
			var want []float32
			want, err = c.run(ref, rand.New(rand.NewPCG(seed, 7)))
			if err != nil {
				err = fmt.Errorf("reference: %w", err)
			} else {
				e = relErr32(got, want)
			}
		}
		out = append(out, Check{Op: c.op, RelErr: e, Bound: c.bound, Elapsed: elapsed, Err: err,
			Skipped: errors.Is(err, ErrNotImplemented)})
	}
	return out
}

type selfCheck struct {
	op    string
	bound float64
	// run computes the op on be from inputs drawn from rng and returns its
	// outputs flattened (losses appended as the last element).
	run func(be Backend, rng *rand.Rand) ([]float32, error)
}

func relErr32(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	w := make([]float64, len(want))
	for i, v := range want {
		w[i] = float64(v)
	}
	return RelErr(got, w)
}

// RelErr is ||got - want|| / ||want|| (the absolute norm if want is 0), the
// error measure of the self-check and the conformance suite. A NaN or Inf in
// got gives +Inf unless want holds the same infinity there, so NaN never
// passes.
func RelErr(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			if g != want[i] { // only an expected Inf/Inf match is allowed
				return math.Inf(1)
			}
			continue
		}
		d := g - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// scratch allocates and uploads on be; free releases everything at the end.
type scratch struct {
	be   Backend
	bufs []Buffer
	err  error
}

func (s *scratch) f32(x []float32) Buffer {
	if s.err != nil {
		return nil
	}
	b, err := NewF32(s.be, x)
	s.err = err
	s.bufs = append(s.bufs, b)
	return b
}

func (s *scratch) alloc(dt DType, n int) Buffer {
	if s.err != nil {
		return nil
	}
	b, err := s.be.Alloc(dt, n)
	s.err = err
	s.bufs = append(s.bufs, b)
	return b
}

func (s *scratch) read(b Buffer) []float32 {
	if s.err != nil {
		return nil
	}
	x, err := ReadF32(s.be, All(b))
	s.err = err
	return x
}

func (s *scratch) free() {
	for _, b := range s.bufs {
		if b != nil {
			s.be.Free(b)
		}
	}
}

func uniform(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (2*rng.Float32() - 1) * scale
	}
	return x
}

var selfChecks = []selfCheck{
	{"sgemm", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		m, n, k := 67, 45, 33
		a, b := s.f32(uniform(rng, k*m, 1)), s.f32(uniform(rng, n*k, 1))
		c := s.alloc(F32, m*n)
		if s.err != nil {
			return nil, s.err
		}
		if err := be.Sgemm(true, true, m, n, k, 1.5, Mat{a, 0, m}, Mat{b, 0, k}, 0, Mat{c, 0, n}); err != nil {
			return nil, err
		}
		return s.read(c), s.err
	}},
	{"sgemm_bf16", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		tr, ok := be.(Trainer)
		if !ok {
			return nil, fmt.Errorf("%s has no training ops", be.Name())
		}
		s := &scratch{be: be}
		defer s.free()
		m, n, k := 37, 61, 45 // x W^T, the forward pass's form
		a, b := s.f32(uniform(rng, m*k, 1)), s.f32(uniform(rng, n*k, 1))
		c := s.alloc(F32, m*n)
		if s.err != nil {
			return nil, s.err
		}
		if err := tr.SgemmBF16(false, true, m, n, k, 1, Mat{a, 0, k}, Mat{b, 0, k}, 0, Mat{c, 0, n}); err != nil {
			return nil, err
		}
		return s.read(c), s.err
	}},
	{"kl_distill", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		rows, cols := 17, 100
		zt, zs := s.f32(uniform(rng, rows*cols, 5)), s.f32(uniform(rng, rows*cols, 5))
		g := s.alloc(F32, rows*cols)
		if s.err != nil {
			return nil, s.err
		}
		loss, err := be.KLDistill(rows, cols, Mat{zt, 0, cols}, Mat{zs, 0, cols}, 1, 10, Mat{g, 0, cols})
		if err != nil {
			return nil, err
		}
		return append(s.read(g), float32(loss)), s.err
	}},
	{"xent_ls", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		rows, cols := 17, 100
		z := s.f32(uniform(rng, rows*cols, 5))
		labels := make([]int32, rows)
		for i := range labels {
			labels[i] = int32(rng.IntN(cols))
		}
		lb := s.alloc(I32, rows)
		g := s.alloc(F32, rows*cols)
		if s.err != nil {
			return nil, s.err
		}
		if err := be.Upload(All(lb), I32Bytes(labels)); err != nil {
			return nil, err
		}
		loss, err := be.CrossEntropyLS(rows, cols, Mat{z, 0, cols}, All(lb), 0.1, Mat{g, 0, cols})
		if err != nil {
			return nil, err
		}
		return append(s.read(g), float32(loss)), s.err
	}},
	{"convert+sub", 1e-6, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		n := 1001
		ft, base := s.f32(uniform(rng, n, 1)), s.f32(uniform(rng, n, 1))
		ftH, baseB, tau := s.alloc(F16, n), s.alloc(BF16, n), s.alloc(F32, n)
		if s.err != nil {
			return nil, s.err
		}
		for _, err := range []error{be.Convert(All(ftH), All(ft)), be.Convert(All(baseB), All(base)),
			be.Sub(All(tau), All(ftH), All(baseB))} {
			if err != nil {
				return nil, err
			}
		}
		return s.read(tau), s.err
	}},
	{"norm+axpy+scale+wsum", 1e-6, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		n := 4099
		x, y, z := s.f32(uniform(rng, n, 1)), s.f32(uniform(rng, n, 1)), s.f32(uniform(rng, n, 1))
		out := s.alloc(F32, n)
		if s.err != nil {
			return nil, s.err
		}
		if err := be.Axpy(0.5, All(x), All(y)); err != nil {
			return nil, err
		}
		if err := be.Scale(All(y), -2); err != nil {
			return nil, err
		}
		if err := be.WeightedSum(All(out), []Vec{All(x), All(y), All(z)}, []float32{1, 0.25, -3}); err != nil {
			return nil, err
		}
		ss, err := SumSqValue(be, All(out))
		if err != nil {
			return nil, err
		}
		return append(s.read(out), float32(ss)), s.err
	}},
	{"topk histogram+window", 1e-6, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		n := 3001
		x := s.f32(uniform(rng, n, 1))
		hist, win, above := s.alloc(U64, 1<<15), s.alloc(U64, 1<<12), s.alloc(U64, 1)
		if s.err != nil {
			return nil, s.err
		}
		if err := be.AbsHistogram(All(x), 16, 15, 0, All(hist)); err != nil {
			return nil, err
		}
		if err := be.AbsWindow(All(x), 0x3f000000, All(win), All(above)); err != nil { // |x| in [0.5, 0.50024)
			return nil, err
		}
		var out []float32
		for _, b := range []Buffer{above, hist, win} {
			h, err := ReadU64(be, All(b))
			if err != nil {
				return nil, err
			}
			for _, c := range h {
				out = append(out, float32(c))
			}
		}
		return out, s.err
	}},
	{"ties+tall+dare", 1e-6, func(be Backend, rng *rand.Rand) ([]float32, error) {
		s := &scratch{be: be}
		defer s.free()
		n := 2053
		xs := []Vec{All(s.f32(uniform(rng, n, 1))), All(s.f32(uniform(rng, n, 1))), All(s.f32(uniform(rng, n, 1)))}
		ties, tall := s.alloc(F32, n), s.alloc(F32, n)
		if s.err != nil {
			return nil, s.err
		}
		if err := be.TiesMerge(All(ties), xs, []float32{0.5, 0.2, 0}); err != nil {
			return nil, err
		}
		if err := be.TallConsensus(All(tall), Vec{}, xs, []float32{0.2, 0.4, 0.6}, 2); err != nil {
			return nil, err
		}
		if err := be.DareDrop(xs[0], 0x5eed, 1000, 0.7); err != nil {
			return nil, err
		}
		return append(append(s.read(ties), s.read(tall)...), s.read(xs[0].Buf)...), s.err
	}},
	{"attention", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		tr, ok := be.(Trainer)
		if !ok {
			return nil, fmt.Errorf("%s has no training ops", be.Name())
		}
		s := &scratch{be: be}
		defer s.free()
		batch, seq, heads, dh := 2, 17, 3, 16 // odd sizes: SIMD tails on both axes
		rows, d := batch*seq, heads*dh
		qkv, dout := s.f32(uniform(rng, rows*3*d, 1)), s.f32(uniform(rng, rows*d, 1))
		probs, out, dqkv := s.alloc(F32, batch*heads*seq*seq), s.alloc(F32, rows*d), s.alloc(F32, rows*3*d)
		if s.err != nil {
			return nil, s.err
		}
		if err := tr.AttentionForward(batch, seq, heads, dh, 0.25, Mat{qkv, 0, 3 * d}, All(probs), Mat{out, 0, d}); err != nil {
			return nil, err
		}
		if err := tr.AttentionBackward(batch, seq, heads, dh, 0.25, Mat{qkv, 0, 3 * d}, All(probs), Mat{dout, 0, d}, Mat{dqkv, 0, 3 * d}); err != nil {
			return nil, err
		}
		return append(append(s.read(out), s.read(probs)...), s.read(dqkv)...), s.err
	}},
	{"l2norm", 1e-5, func(be Backend, rng *rand.Rand) ([]float32, error) {
		tr, ok := be.(Trainer)
		if !ok {
			return nil, fmt.Errorf("%s has no training ops", be.Name())
		}
		s := &scratch{be: be}
		defer s.free()
		rows, cols := 17, 100
		x, dy := s.f32(uniform(rng, rows*cols, 1)), s.f32(uniform(rng, rows*cols, 1))
		y, norm, dx := s.alloc(F32, rows*cols), s.alloc(F32, rows), s.alloc(F32, rows*cols)
		if s.err != nil {
			return nil, s.err
		}
		if err := tr.L2NormForward(rows, cols, Mat{x, 0, cols}, 1e-12, Mat{y, 0, cols}, All(norm)); err != nil {
			return nil, err
		}
		if err := tr.L2NormBackward(rows, cols, Mat{dy, 0, cols}, Mat{y, 0, cols}, All(norm), 1e-12, Mat{dx, 0, cols}); err != nil {
			return nil, err
		}
		return append(append(s.read(y), s.read(norm)...), s.read(dx)...), s.err
	}},
}
