#!/usr/bin/python3
"""PyTorch CPU peer of BenchmarkDistacStep (bench/): one full DisTaC step.

A step is what distac's trainer does per batch (bench/peers/vit_torch.py,
DistacStep): teacher forward under no_grad, student forward, the loss
T_tcr T_stu KL(teacher || student) at (10, 10), backward, the coupled anchor
g += 2 beta (theta - theta_init) on every parameter, clip_grad_norm_(1.0),
Adam(0.9, 0.999, eps 1e-8) at lr_t = lr * min(1, t / warmup). Float32, random
weights (torch's default init; teacher = student + a random offset), random
images, a frozen zero-shot head 20 * normalize(randn(classes, embed_dim)).

Shapes:
    vit-small  the vit_golden config (image 28, patch 7, width 64, 4 layers, 4 heads,
               1 channel, embed 32, GELU), batch 128, 10 classes
    vit-b32    ViT-B/32 (image 224, patch 32, width 768, 12 layers, 12 heads, 3 channels,
               embed 512, QuickGELU as OpenAI CLIP), batch 8, 8 classes

Usage:
    /usr/bin/python3 bench/peers/distac_step_torch.py --shape vit-small|vit-b32
        [--batch N] [--threads N] [--iters N] [--warmup N] [--precision f32|bf16] [--json]
Prints the torch version, threads, the median step time over --iters timed
steps (after --warmup untimed ones) and images/s = batch / median, then one
line compare_step.sh reads:
    distac_step_torch shape=<shape>-b<batch> threads=<n> median_ms=<m> images_per_s=<r> ...
With --json, one JSON object instead.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_torch  # noqa: E402

SHAPES = {
    "vit-small": {
        "cfg": {"embed_dim": 32, "quick_gelu": False,
                "vision_cfg": {"image_size": 28, "patch_size": 7, "width": 64, "layers": 4, "heads": 4,
                               "mlp_ratio": 4.0, "in_channels": 1}},
        "batch": 128, "classes": 10, "iters": 20, "warmup": 3},
    "vit-b32": {
        "cfg": {"embed_dim": 512, "quick_gelu": True,
                "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12, "heads": 12,
                               "mlp_ratio": 4.0, "in_channels": 3}},
        "batch": 8, "classes": 8, "iters": 5, "warmup": 1},
}
# The DisTaC recipe: temperatures for norm conditioning, CLIP-scale lr, a pure ramp.
T_TCR, T_STU, LR, WARMUP, BETA, CLIP = 10.0, 10.0, 1e-5, 500, 0.05, 1.0


def build(shape, batch, classes, seed=0, bf16=False):
    torch.manual_seed(seed)
    cfg = SHAPES[shape]["cfg"]
    student = vit_torch.build_model(cfg).float()
    teacher = vit_torch.build_model(cfg).float()
    teacher.load_state_dict(student.state_dict())
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.1 * p.std() * torch.randn_like(p))
    head = 20 * torch.nn.functional.normalize(torch.randn(classes, cfg["embed_dim"]), dim=-1)
    v = cfg["vision_cfg"]
    images = torch.randn(batch, v["in_channels"], v["image_size"], v["image_size"])
    step = vit_torch.DistacStep(student, teacher, head, T_TCR, T_STU, LR, WARMUP, BETA, CLIP, bf16=bf16)
    return step, images


def check(step, images):
    """The first step gives a finite loss and grad norm and moves the student (guards
    against timing a step that does nothing)."""
    before = [p.detach().clone() for p in step.params[:3]]
    loss, norm = step.step(images)
    assert torch.isfinite(loss) and torch.isfinite(norm) and loss > 0, f"loss {loss}, grad norm {norm}"
    assert any(not torch.equal(a, p) for a, p in zip(before, step.params[:3])), "the step left the student unchanged"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--batch", type=int, help="images per step (default: the shape's)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, help="timed steps (default: 20 vit-small, 5 vit-b32)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default: 3 vit-small, 1 vit-b32)")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: the forwards under torch.autocast(bfloat16), the peer of distac's --precision bf16")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    spec = SHAPES[args.shape]
    batch = args.batch or spec["batch"]
    iters = args.iters or spec["iters"]
    warmup = spec["warmup"] if args.warmup is None else args.warmup
    if batch < 1 or iters < 1 or warmup < 0 or args.threads < 1:
        ap.error("batch, iters and threads must be positive, warmup non-negative")
    torch.set_num_threads(args.threads)

    step, images = build(args.shape, batch, spec["classes"], bf16=args.precision == "bf16")
    nparams = sum(p.numel() for p in step.params)
    check(step, images)
    for _ in range(max(warmup - 1, 0)):  # check() was the first warm-up step
        step.step(images)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step.step(images)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res = {"impl": "torch" if args.precision == "f32" else "torch-bf16", "shape": f"{args.shape}-b{batch}", "batch": batch, "classes": spec["classes"],
           "params": nparams, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "median_ms": med * 1e3, "min_ms": min(times) * 1e3, "images_per_s": batch / med,
           "iters": iters, "warmup": warmup}
    if args.json:
        print(json.dumps(res))
        return
    print(f"# torch {torch.__version__}, threads {res['threads']}, {args.shape} ({nparams} parameters), "
          f"batch {batch}, {spec['classes']} classes, {iters} timed steps after {warmup}")
    print(f"# step {med * 1e3:.2f} ms median ({min(times) * 1e3:.2f} min), {batch / med:.1f} images/s")
    print(f"distac_step_torch shape={res['shape']} precision={args.precision} threads={res['threads']} median_ms={med * 1e3:.4f} "
          f"min_ms={min(times) * 1e3:.4f} images_per_s={batch / med:.3f} iters={iters}", flush=True)


if __name__ == "__main__":
    main()
