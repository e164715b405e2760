"""PyTorch peers for scripts/gpu-check.sh: cuBLAS SGEMM (torch.matmul, fp32
without TF32, and bf16) and PyTorch eager's KL distillation step, timed with
CUDA events; prints `name | ms | TFLOP/s or GB/s` rows."""
import torch

def timed(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / reps

torch.backends.cuda.matmul.allow_tf32 = False
for n in (512, 4096):
    x, y = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    ms = timed(lambda: x @ y)
    print(f"torch sgemm {n}^3 | {ms:.4f} | {2*n**3/ms/1e9:.2f} TFLOP/s")
    xb, yb = x.bfloat16(), y.bfloat16()
    ms = timed(lambda: xb @ yb)
    print(f"torch bf16 gemm {n}^3 | {ms:.4f} | {2*n**3/ms/1e9:.2f} TFLOP/s")
R, K = 256, 1000
zt, zs = torch.randn(R, K, device="cuda") * 5, (torch.randn(R, K, device="cuda") * 5).requires_grad_()
def kl():
    p = torch.log_softmax(zt / 10, -1)
    q = torch.log_softmax(zs / 10, -1)
    loss = 100 * torch.nn.functional.kl_div(q, p, log_target=True, reduction="batchmean")
    g, = torch.autograd.grad(loss, zs)
    return g
ms = timed(kl)
print(f"torch eager kl_distill {R}x{K} | {ms:.4f} | {R*K*12/ms/1e6:.1f} GB/s")
