package ffi

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The run-time LAPACK's row-major wrappers against plain loops: odd shapes,
// leading dimensions past the columns (the padding must stay untouched),
// every transpose. Skipped where no LAPACK opens.

func openLAPACKOrSkip(t *testing.T) *LAPACK {
	t.Helper()
	l, err := OpenLAPACK()
	if err != nil {
		t.Skipf("no LAPACK: %v", err)
	}
	return l
}

// laRandom is a rows x cols matrix with leading dimension ld, the padding NaN.
func laRandom(rng *rand.Rand, rows, cols, ld int) []float64 {
	x := make([]float64, max(0, (rows-1)*ld+cols))
	for i := range x {
		x[i] = math.NaN()
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			x[i*ld+j] = rng.NormFloat64()
		}
	}
	return x
}

func laAt(x []float64, ld int, trans bool, i, j int) float64 {
	if trans {
		return x[j*ld+i]
	}
	return x[i*ld+j]
}

func TestLAPACKDgemm(t *testing.T) {
	l := openLAPACKOrSkip(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {5, 3, 7}, {17, 33, 9}, {64, 1, 40}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				ar, ac := opDims(ta, m, k)
				br, bc := opDims(tb, k, n)
				lda, ldb, ldc := ac+2, bc+1, n+3
				a, b, c := laRandom(rng, ar, ac, lda), laRandom(rng, br, bc, ldb), laRandom(rng, m, n, ldc)
				c0 := append([]float64(nil), c...)
				if err := l.Dgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, -2, c, ldc); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var want float64
						for p := 0; p < k; p++ {
							want += laAt(a, lda, ta, i, p) * laAt(b, ldb, tb, p, j)
						}
						want = 0.5*want - 2*c0[i*ldc+j]
						if got := c[i*ldc+j]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
							t.Fatalf("%dx%dx%d ta=%v tb=%v: C[%d,%d] = %v, want %v", m, n, k, ta, tb, i, j, got, want)
						}
					}
					for j := n; j < ldc && i < m-1; j++ {
						if !math.IsNaN(c[i*ldc+j]) {
							t.Fatalf("padding C[%d,%d] written", i, j)
						}
					}
				}
			}
		}
	}
	if err := l.Dgemm(false, false, 3, 3, 3, 1, make([]float64, 8), 3, make([]float64, 9), 3, 0, make([]float64, 9), 3); err == nil {
		t.Error("a short A passed")
	}
}

func TestLAPACKDsyrk(t *testing.T) {
	l := openLAPACKOrSkip(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{1, 1}, {4, 9}, {13, 5}, {40, 41}} {
		n, k := sz[0], sz[1]
		for _, ta := range []bool{false, true} {
			ar, ac := n, k
			if ta {
				ar, ac = k, n
			}
			lda, ldc := ac+1, n+2
			a, c := laRandom(rng, ar, ac, lda), laRandom(rng, n, n, ldc)
			if err := l.Dsyrk(ta, n, k, a, lda, c, ldc); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					var want float64
					for p := 0; p < k; p++ { // op(A) op(A)^T, op(A) n x k
						want += laAt(a, lda, ta, i, p) * laAt(a, lda, ta, j, p)
					}
					if got := c[i*ldc+j]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
						t.Fatalf("n %d k %d trans %v: C[%d,%d] = %v, want %v", n, k, ta, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestLAPACKDsyevTop(t *testing.T) {
	l := openLAPACKOrSkip(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][2]int{{1, 1}, {6, 2}, {31, 31}, {50, 7}, {50, 12}, {50, 13}, {40, 39}} { // dsyevr, dsyevd
		n, k := sz[0], sz[1]
		ld := n + 1
		x := laRandom(rng, n, n, ld)
		for i := 0; i < n; i++ { // symmetric
			for j := 0; j < i; j++ {
				x[i*ld+j] = x[j*ld+i]
			}
		}
		a := append([]float64(nil), x...)
		w, z := make([]float64, n), laRandom(rng, k, n, n+2)
		if err := l.DsyevTop(n, a, ld, k, w, z, n+2); err != nil {
			t.Fatal(err)
		}
		for q := 0; q < k; q++ {
			if q > 0 && w[q] > w[q-1] {
				t.Fatalf("n %d: w not descending: %v", n, w[:k])
			}
			v := z[q*(n+2) : q*(n+2)+n]
			var nrm float64
			for i := 0; i < n; i++ { // ||X v - w v||
				var xv float64
				for j := 0; j < n; j++ {
					xv += x[i*ld+j] * v[j]
				}
				if d := xv - w[q]*v[i]; math.Abs(d) > 1e-10*float64(n) {
					t.Fatalf("n %d pair %d: residual %v", n, q, d)
				}
				nrm += v[i] * v[i]
			}
			if math.Abs(nrm-1) > 1e-12 {
				t.Fatalf("n %d pair %d: |v|^2 = %v", n, q, nrm)
			}
		}
	}
}

func TestLAPACKDgesdd(t *testing.T) {
	l := openLAPACKOrSkip(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][2]int{{1, 1}, {9, 4}, {4, 9}, {33, 33}} {
		m, n := sz[0], sz[1]
		r := min(m, n)
		lda := n + 3
		x := laRandom(rng, m, n, lda)
		a := append([]float64(nil), x...)
		s, u, vt := make([]float64, r), make([]float64, m*r), make([]float64, r*n)
		if err := l.Dgesdd(m, n, a, lda, s, u, r, vt, n); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m; i++ { // U diag(s) VT == A
			for j := 0; j < n; j++ {
				var got float64
				for q := 0; q < r; q++ {
					got += u[i*r+q] * s[q] * vt[q*n+j]
				}
				if want := x[i*lda+j]; math.Abs(got-want) > 1e-12*float64(m+n) {
					t.Fatalf("%dx%d: (U S VT)[%d,%d] = %v, want %v", m, n, i, j, got, want)
				}
			}
		}
		for q := 1; q < r; q++ {
			if s[q] > s[q-1] || s[q] < 0 {
				t.Fatalf("%dx%d: s not descending: %v", m, n, s)
			}
		}
	}
}
