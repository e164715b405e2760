package ffi

func (cpu *CPU) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist []uint64) error {
	return ErrNotImplemented
}
func (cpu *CPU) TiesTrim(dst, x Vec, threshold float32) error            { return ErrNotImplemented }
func (cpu *CPU) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error { return ErrNotImplemented }
func (cpu *CPU) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	return ErrNotImplemented
}
