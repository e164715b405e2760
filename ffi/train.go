package ffi

// Trainer runs distac's training ops: the per-layer forward and backward
// pieces of the ViT and MLP (layernorm, GELU/QuickGELU, row softmax, bias) and
// the fused Adam step with the DisTaC anchor. Semantics are those of the C ABI
// in kernels/include/distac_train.h, which is the specification. Like
// Backend's methods, every method validates its views (bounds, dtypes,
// ownership) and returns an error without writing anything when they are
// wrong. All views are F32; a Vec or Mat with a nil Buf means "none" where an
// argument is optional.
type Trainer interface {
	// LayerNormForward writes y = (x - mean) * rstd * gamma + beta per row of
	// x (rows x cols), and the row statistics mean and rstd (length rows)
	// unless their Buf is nil.
	LayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) error
	// LayerNormBackward writes dx (or adds to it when accumulate is set) from
	// dy, x and the forward's mean and rstd, and adds sum_r dy*xhat to dgamma
	// and sum_r dy to dbeta unless their Buf is nil. dgamma and dbeta have
	// the same bits for any thread count.
	LayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, accumulate bool, dgamma, dbeta Vec) error

	// GELUForward writes y = x * Phi(x) (exact erf GELU), or x * sigmoid(1.702 x)
	// when quick (QuickGELU).
	GELUForward(x, y Vec, quick bool) error
	// GELUBackward writes dx = dy * f'(x).
	GELUBackward(x, dy, dx Vec, quick bool) error

	// SoftmaxForward writes y = softmax(x) per row (rows x cols).
	SoftmaxForward(rows, cols int, x, y Mat) error
	// SoftmaxBackward writes dx = y * (dy - sum_c dy*y) per row from the forward's y.
	SoftmaxBackward(rows, cols int, y, dy, dx Mat) error

	// BiasAdd does y[r][c] += b[c].
	BiasAdd(rows, cols int, y Mat, b Vec) error
	// BiasGrad does db[c] += sum_r dy[r][c], with the same bits for any thread count.
	BiasGrad(rows, cols int, dy Mat, db Vec) error

	// AdamStep updates theta, m and v in place with one Adam step on the
	// anchored, clipped gradient clip * (grad + 2*anchor*(theta - thetaInit)).
	// thetaInit may be none when p.Anchor is 0.
	AdamStep(theta, grad, m, v, thetaInit Vec, p AdamParams) error
	// AnchoredGradSumSq returns sum_i (grad + 2*anchor*(theta - thetaInit))^2 in
	// float64 with the same bits for any thread count: summed over every
	// parameter tensor, its square root is the norm the clip scale comes from.
	// theta and thetaInit may be none when anchor is 0.
	AnchoredGradSumSq(grad, theta, thetaInit Vec, anchor float32) (float64, error)
}

// AdamParams are the scalars of one Adam step (torch.optim.Adam's form, bias
// corrected, no weight decay) with the DisTaC anchor and the clip scale.
type AdamParams struct {
	LR, Beta1, Beta2, Eps float32
	// Anchor is beta of the anchor beta*||theta - thetaInit||^2, added to the
	// gradient as 2*beta*(theta - thetaInit) before clipping.
	Anchor float32
	// ClipScale is min(1, maxNorm/||g||) over every tensor, from
	// AnchoredGradSumSq; the step multiplies the anchored gradient by it.
	ClipScale float32
	// Step is the 1-based step number t of the bias corrections 1 - beta^t.
	Step int
}

var (
	_ Trainer = (*Ref)(nil)
	_ Trainer = (*CPU)(nil)
)
