#!/usr/bin/python3
"""TSV-M's SVD work in PyTorch, for comparison with `distac merge --method tsvm`.

    /usr/bin/python3 scripts/bench_tsvm_torch.py BASE.safetensors TASK.safetensors... [--dtype float64] [--threads N]

For every 2-D weight (not an embedding) of the checkpoints: tau_t = theta_t - theta_0,
torch.linalg.svd of each tau_t (thin), the top floor(r/T) triplets per task in disjoint
blocks, polar factors of the stacked U and Vt (two more SVDs) and the product: the
same per-task SVD work as distac's TSV-M. Prints the time of that work only (reading
the files is excluded), per matrix shape and in total.
"""
import argparse
import json
import struct
import time

import numpy as np
import torch

DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DT:
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DT[info["dtype"]]).reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("tasks", nargs="+")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    base = load(args.base)
    tasks = [load(p) for p in args.tasks]
    T = len(tasks)
    names = [n for n, v in base.items() if v.ndim == 2 and v.dtype == np.float32 and "embed" not in n.lower()]
    total, per_shape = 0.0, {}
    for name in names:
        b = torch.from_numpy(np.array(base[name])).to(dtype)
        taus = [torch.from_numpy(np.array(t[name])).to(dtype) - b for t in tasks]
        t0 = time.perf_counter()
        m, n = b.shape
        k = min(m, n) // T
        U = torch.zeros(m, T * k, dtype=dtype)
        S = torch.zeros(T * k, dtype=dtype)
        V = torch.zeros(T * k, n, dtype=dtype)
        for i, tau in enumerate(taus):
            u, s, vh = torch.linalg.svd(tau, full_matrices=False)
            U[:, i * k:(i + 1) * k] = u[:, :k]
            S[i * k:(i + 1) * k] = s[:k]
            V[i * k:(i + 1) * k, :] = vh[:k, :]
        pu, _, qu = torch.linalg.svd(U, full_matrices=False)
        pv, _, qv = torch.linalg.svd(V, full_matrices=False)
        delta = torch.linalg.multi_dot((pu @ qu, torch.diag(S), pv @ qv))
        dt = time.perf_counter() - t0
        del delta
        total += dt
        key = f"{m}x{n}"
        c, s_ = per_shape.get(key, (0, 0.0))
        per_shape[key] = (c + 1, s_ + dt)
    print(f"torch {torch.__version__} {args.dtype}, {torch.get_num_threads()} threads, {T} tasks, {len(names)} matrices")
    for key, (c, s_) in per_shape.items():
        print(f"  {key:>10} x{c:<3} {s_:8.2f} s")
    print(f"total SVD work: {total:.2f} s")


if __name__ == "__main__":
    main()
