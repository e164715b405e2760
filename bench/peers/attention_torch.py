#!/usr/bin/env python3
"""PyTorch CPU peer of BenchmarkAttentionForward/Backward (bench/train_test.go).

Times the attention core as a user writes it in torch 1.13 (which has no fused
scaled_dot_product_attention), from Q, K and V already split into contiguous
(batch, heads, seq, head_dim) tensors, float32:

    out = softmax(q @ k.transpose(-1, -2) * head_dim**-0.5, -1) @ v     # forward, with autograd
    out.backward(dout)                                                 # dq, dk, dv

on the Go benchmark's shapes, inputs uniform in [-1, 1), with
torch.set_num_threads(threads). (distac reads the interleaved qkv layout of
the in-projection directly; the split is not timed here.)

Usage:
    python3 bench/peers/attention_torch.py [--threads N] [--shapes 128x17x4x16,8x50x12x64]
                                           [--min-time SECONDS]
Prints one line per shape and direction:
    attention_torch <b>x<s>x<h>x<d> fwd|fwd+bwd threads=<n> median_us=<t> min_us=<t> reps=<k>
"""
import argparse
import statistics
import time

import torch


def forward(q, k, v):
    return torch.softmax((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5, -1) @ v


def check(q, k, v):
    """The forward is the attention distac computes (guards against timing the wrong op)."""
    want = forward(q.double(), k.double(), v.double())
    err = (forward(q, k, v).double() - want).norm() / want.norm()
    assert err < 1e-5, f"forward mismatch: rel err {err:.3g}"


def timed(fn, min_time):
    for _ in range(3):  # warm-up: allocator and thread pool
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6, min(times) * 1e6, len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", default="128x17x4x16,8x50x12x64")
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for shape in args.shapes.split(","):
        b, s, h, d = (int(x) for x in shape.split("x"))
        g = torch.Generator().manual_seed(b * s * h * d)
        q, k, v = ((torch.rand(b, h, s, d, generator=g) * 2 - 1).requires_grad_(True) for _ in range(3))
        dout = torch.rand(b, h, s, d, generator=g) * 2 - 1
        with torch.no_grad():
            check(q, k, v)

        def fwd():  # the training forward: autograd keeps what the backward needs
            return forward(q, k, v)

        def fwd_bwd():
            for t in (q, k, v):
                t.grad = None
            forward(q, k, v).backward(dout)

        for name, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
            med, best, reps = timed(fn, args.min_time)
            print(f"attention_torch {shape} {name} threads={args.threads} "
                  f"median_us={med:.0f} min_us={best:.0f} reps={reps}")


if __name__ == "__main__":
    main()
