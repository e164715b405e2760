package ffi

func (cpu *CPU) KLDistill(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (float64, error) {
	return 0, ErrNotImplemented
}

func (cpu *CPU) CrossEntropyLS(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (float64, error) {
	return 0, ErrNotImplemented
}
