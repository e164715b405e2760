package ffi

// Trainer runs distac's training ops: the per-layer forward and backward
// pieces of the ViT and MLP (layernorm, GELU/QuickGELU, row softmax, bias,
// the multi-head attention core, row L2 normalization, zeroing) and the fused
// Adam step with the DisTaC anchor. Semantics are those of the C ABI
// in kernels/include/distac_train.h, which is the specification. Like
// Backend's methods, every method validates its views (bounds, dtypes,
// ownership) and returns an error without writing anything when they are
// wrong. All views are F32 (Zero takes any dtype); a Vec or Mat with a nil
// Buf means "none" where an argument is optional.
type Trainer interface {
	// SgemmBF16 is Sgemm on bf16 operands: C = alpha * bf16(op(A)) *
	// bf16(op(B)) + beta * C, every element of A and B (F32 in memory)
	// rounded to bfloat16 (nearest even) as it is read, the exact products
	// summed in fp32. It is the matmul of the bf16 mixed-precision step.
	SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error

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

	// AttentionForward is multi-head self-attention without the projections.
	// qkv ((batch*seq) x 3D, D = heads*headDim, token r = b*seq + i) holds Q
	// in columns [0,D), K in [D,2D), V in [2D,3D), head h in columns
	// h*headDim.. of each; per batch item b and head h:
	//   P[i][j] = softmax_j(scale * sum_c Q_i[c] K_j[c])
	//   out[b*seq+i][h*headDim+c] = sum_j P[i][j] V_j[c]      (out: (batch*seq) x D)
	// P goes to probs[((b*heads+h)*seq+i)*seq+j] (length batch*heads*seq*seq)
	// for the backward, unless probs.Buf is nil (out has the same bits). out
	// must not overlap qkv or probs. Results have the same bits for any
	// thread count.
	AttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) error
	// AttentionBackward writes every Q, K and V column of dqkv ((batch*seq)
	// x 3D; written, not accumulated) from qkv, the forward's probs and
	// dout = dL/dout ((batch*seq) x D):
	//   dP[i][j] = sum_c dout_i[c] V_j[c],  dS = P * (dP - sum_j' dP[i][j'] P[i][j'])
	//   dQ_i = scale sum_j dS[i][j] K_j,  dK_j = scale sum_i dS[i][j] Q_i,  dV_j = sum_i P[i][j] dout_i
	// dqkv must not overlap qkv, probs or dout. Same bits for any thread count.
	AttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) error

	// L2NormForward writes y[r] = x[r] / max(||x[r]||, eps) per row (torch's
	// F.normalize(x, dim=-1, eps)) and norm[r] = ||x[r]|| (summed in float64)
	// unless norm.Buf is nil. eps must be finite and > 0; y may equal x.
	L2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) error
	// L2NormBackward writes, from the forward's y and norm,
	// dx[r] = (dy[r] - y[r] <dy[r], y[r]>) / norm[r] where norm[r] > eps and
	// dx[r] = dy[r] / eps elsewhere. dx may equal dy.
	L2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) error

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
