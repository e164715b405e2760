package ffi

import "github.com/distac/distac/internal/half"

// Sgemm is the float64-accumulating reference:
//
//	for i, j: C[i][j] = alpha * sum_p op(A)[i][p]*op(B)[p][j] + beta*C[i][j]
//
// with beta == 0 writing C without reading it and k == 0 or alpha == 0
// leaving C = beta*C without reading A or B.
func (r *Ref) Sgemm(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	return r.SgemmStridedBatched(transA, transB, m, n, k, 1, alpha, a, 0, b, 0, beta, c, 0)
}

// SgemmStridedBatched runs Sgemm on entry q at Off + q*stride of each operand.
func (r *Ref) SgemmStridedBatched(transA, transB bool, m, n, k, batch int, alpha float32,
	a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int) error {
	if err := r.check(checkGemm(transA, transB, m, n, k, batch, a, strideA, b, strideB, c, strideC)); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	av, bv, cv := f32s(All(a.Buf)), f32s(All(b.Buf)), f32s(All(c.Buf))
	for q := range batch {
		refGemm(transA, transB, m, n, k, alpha, gemmTail(av, a.Off+q*strideA), a.LD,
			gemmTail(bv, b.Off+q*strideB), b.LD, beta, gemmTail(cv, c.Off+q*strideC), c.LD)
	}
	return nil
}

// SgemmBF16 is Sgemm (float64 sums) on copies of A and B rounded to bf16:
// the exact sum of the rounded operands' products, which every backend's
// fp32 sums approach.
func (r *Ref) SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	if err := r.check(checkGemm(transA, transB, m, n, k, 1, a, 0, b, 0, c, 0)); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	round := func(s []float32) []float32 {
		out := make([]float32, len(s))
		for i, x := range s {
			out[i] = half.BF16ToF32(half.F32ToBF16(x))
		}
		return out
	}
	av, bv := round(f32s(All(a.Buf))), round(f32s(All(b.Buf)))
	refGemm(transA, transB, m, n, k, alpha, gemmTail(av, a.Off), a.LD, gemmTail(bv, b.Off), b.LD,
		beta, gemmTail(f32s(All(c.Buf)), c.Off), c.LD)
	return nil
}

// gemmTail is s[off:], or nil past the end: checkGemm bounds only non-empty
// views, and an empty A or B (k == 0) is never indexed.
func gemmTail(s []float32, off int) []float32 {
	if off > len(s) {
		return nil
	}
	return s[off:]
}

// refGemm is one checked GEMM (m, n > 0) on slices that start at each
// operand's element (0, 0).
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var acc float64
			if k > 0 && alpha != 0 {
				for p := range k {
					var x, y float32
					if transA {
						x = a[p*lda+i]
					} else {
						x = a[i*lda+p]
					}
					if transB {
						y = b[j*ldb+p]
					} else {
						y = b[p*ldb+j]
					}
					acc += float64(x) * float64(y)
				}
			}
			v := float64(alpha) * acc
			if beta != 0 {
				v += float64(beta) * float64(row[j])
			}
			row[j] = float32(v)
		}
	}
}
