#!/usr/bin/env python3
"""PyTorch CPU peer of BenchmarkKLDistill (bench/kl_test.go).

Times what a user writes for the DisTaC loss and its student-logit gradient:

    loss = Tt * Ts * kl_div(log_softmax(zs / Ts), log_softmax(zt / Tt),
                            log_target=True, reduction='batchmean')
    loss.backward()            # zs.grad = Tt/B * (softmax(zs/Ts) - softmax(zt/Tt))

on the same shapes, logit distribution (uniform in [-8, 8)) and temperatures
(10, 10) as the Go benchmark, float32, with torch.set_num_threads(threads).

Usage:
    python3 bench/peers/kl_torch.py [--threads N] [--shapes 128x10,1024x1000,1024x32000]
                                    [--min-time SECONDS]
Needs torch (and a CPU build of it). Prints one line per shape:
    kl_torch <rows>x<cols> threads=<n> median_ms=<m> min_ms=<m> reps=<k>
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F


def kl_step(zt, zs, tt, ts):
    zs.grad = None
    loss = tt * ts * F.kl_div(F.log_softmax(zs / ts, dim=1), F.log_softmax(zt / tt, dim=1),
                              log_target=True, reduction="batchmean")
    loss.backward()
    return loss


def check(zt, zs, tt, ts):
    """The gradient is the one distac computes (guards against timing the wrong op)."""
    kl_step(zt, zs, tt, ts)
    want = tt / zt.shape[0] * (torch.softmax(zs.detach() / ts, 1) - torch.softmax(zt / tt, 1))
    err = (zs.grad - want).norm() / want.norm()
    assert err < 1e-4, f"gradient mismatch: rel err {err:.3g}"


def time_shape(rows, cols, min_time):
    g = torch.Generator().manual_seed(rows * cols)
    zt = torch.rand(rows, cols, generator=g) * 16 - 8
    zs = (torch.rand(rows, cols, generator=g) * 16 - 8).requires_grad_(True)
    tt = ts = 10.0
    check(zt, zs, tt, ts)
    for _ in range(2):  # warm-up: allocator and thread pool
        kl_step(zt, zs, tt, ts)
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        kl_step(zt, zs, tt, ts)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3, len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--shapes", default="128x10,1024x1000,1024x32000")
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds to time each shape")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for shape in args.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        med, best, reps = time_shape(rows, cols, args.min_time)
        print(f"kl_torch {rows}x{cols} threads={args.threads} median_ms={med:.4f} "
              f"min_ms={best:.4f} reps={reps}", flush=True)


if __name__ == "__main__":
    main()
