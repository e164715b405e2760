package ffi

func (*Ref) Sgemm(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	return ErrNotImplemented
}

func (*Ref) SgemmStridedBatched(transA, transB bool, m, n, k, batch int, alpha float32,
	a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int) error {
	return ErrNotImplemented
}
