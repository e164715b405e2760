package ffi

func (cpu *CPU) Convert(dst, src Vec) error                       { return ErrNotImplemented }
func (cpu *CPU) Sub(dst, ft, base Vec) error                      { return ErrNotImplemented }
func (cpu *CPU) SumSq(x Vec) (float64, error)                     { return 0, ErrNotImplemented }
func (cpu *CPU) Scale(x Vec, a float32) error                     { return ErrNotImplemented }
func (cpu *CPU) Axpy(a float32, x, y Vec) error                   { return ErrNotImplemented }
func (cpu *CPU) WeightedSum(dst Vec, xs []Vec, w []float32) error { return ErrNotImplemented }
