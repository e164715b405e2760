package ffi

import "math"

// L2Norm is the Euclidean norm of a task vector stored as many tensors:
// sqrt(sum of SumSq(x) over xs, added in order). Each SumSq is deterministic,
// so the norm has the same bits for any thread count. No tensors give 0.
func L2Norm(be Backend, xs []Vec) (float64, error) {
	var sum float64
	for _, x := range xs {
		s, err := be.SumSq(x)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return math.Sqrt(sum), nil
}
