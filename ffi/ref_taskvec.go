package ffi

func (*Ref) Convert(dst, src Vec) error                       { return ErrNotImplemented }
func (*Ref) Sub(dst, ft, base Vec) error                      { return ErrNotImplemented }
func (*Ref) SumSq(x Vec) (float64, error)                     { return 0, ErrNotImplemented }
func (*Ref) Scale(x Vec, a float32) error                     { return ErrNotImplemented }
func (*Ref) Axpy(a float32, x, y Vec) error                   { return ErrNotImplemented }
func (*Ref) WeightedSum(dst Vec, xs []Vec, w []float32) error { return ErrNotImplemented }
