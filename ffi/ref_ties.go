package ffi

func (*Ref) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist []uint64) error {
	return ErrNotImplemented
}
func (*Ref) TiesTrim(dst, x Vec, threshold float32) error            { return ErrNotImplemented }
func (*Ref) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error { return ErrNotImplemented }
func (*Ref) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	return ErrNotImplemented
}
