#!/usr/bin/python3
"""The SVD merges' work in PyTorch, for comparison with `distac merge --method tsvm|isoc|isocts`.

    /usr/bin/python3 scripts/bench_tsvm_torch.py BASE.safetensors TASK.safetensors... \
        [--method tsvm|isoc|isocts] [--dtype float64] [--threads N]

For every 2-D weight (not an embedding) of the checkpoints, tau_t = theta_t - theta_0, as
FusionBench computes each method with torch.linalg.svd (thin):
  tsvm:   an SVD of each tau_t, the top floor(r/T) triplets per task in disjoint blocks,
          polar factors of the stacked U and Vt (two more SVDs) and the product;
  isoc:   an SVD of M = sum_t tau_t, delta = mean(S) U Vt;
  isocts: an SVD of M (common subspace: top k_c), per task an SVD of tau_t - U_c U_c^T tau_t
          (top s), polar factors of the stacked U and Vt, every singular value their mean.
Prints the time of that work only (reading the files is excluded), per matrix shape and in
total.
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


def polar(x):
    """x = P S Q^T -> P Q^T (FusionBench: u, _, v = svd(x); u @ v)."""
    p, _, q = torch.linalg.svd(x, full_matrices=False)
    return p @ q


def tsvm(taus, dtype):
    m, n = taus[0].shape
    T = len(taus)
    k = min(m, n) // T
    U = torch.zeros(m, T * k, dtype=dtype)
    S = torch.zeros(T * k, dtype=dtype)
    V = torch.zeros(T * k, n, dtype=dtype)
    for i, tau in enumerate(taus):
        u, s, vh = torch.linalg.svd(tau, full_matrices=False)
        U[:, i * k:(i + 1) * k] = u[:, :k]
        S[i * k:(i + 1) * k] = s[:k]
        V[i * k:(i + 1) * k, :] = vh[:k, :]
    return torch.linalg.multi_dot((polar(U), torch.diag(S), polar(V)))


def isoc(taus, dtype):
    u, s, vh = torch.linalg.svd(sum(taus), full_matrices=False)
    return s.mean() * (u @ vh)


def isocts(taus, dtype, frac=0.8):
    m, n = taus[0].shape
    T, r = len(taus), min(m, n)
    kc = r - round((r - int(r * frac)) / T) * T
    sp = (r - kc) // T
    u, s, vh = torch.linalg.svd(sum(taus), full_matrices=False)
    uc = u[:, :kc]
    Us, Ss, Vs = [], [], []
    for tau in taus:
        a = tau - uc @ (uc.T @ tau)
        try:
            ut, st, vt = torch.linalg.svd(a, full_matrices=False)
        except torch.linalg.LinAlgError:
            # The projected tau_t has rank r - k_c: float32 sgesdd can fail to
            # converge on its zero singular values. Redo it in float64 (timed).
            FAILS[0] += 1
            ut, st, vt = (x.to(dtype) for x in torch.linalg.svd(a.double(), full_matrices=False))
        Us.append(ut[:, :sp])
        Ss.append(st[:sp])
        Vs.append(vt[:sp, :])
    U = torch.cat(Us + [uc], dim=1)
    S = torch.cat(Ss + [s[:kc]])
    V = torch.cat(Vs + [vh[:kc, :]], dim=0)
    S = torch.full_like(S, S.mean().item())
    return torch.linalg.multi_dot((polar(U), torch.diag(S), polar(V)))


FAILS = [0]  # float32 SVDs that did not converge (redone in float64)
WORK = {"tsvm": tsvm, "isoc": isoc, "isocts": isocts}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("tasks", nargs="+")
    ap.add_argument("--method", default="tsvm", choices=["tsvm", "isoc", "isocts"])
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
        delta = WORK[args.method](taus, dtype)
        dt = time.perf_counter() - t0
        del delta
        total += dt
        key = "x".join(str(d) for d in b.shape)
        c, s_ = per_shape.get(key, (0, 0.0))
        per_shape[key] = (c + 1, s_ + dt)
    print(f"torch {torch.__version__} {args.method} {args.dtype}, {torch.get_num_threads()} threads, {T} tasks, "
          f"{len(names)} matrices")
    for key, (c, s_) in per_shape.items():
        print(f"  {key:>10} x{c:<3} {s_:8.2f} s")
    print(f"total SVD work: {total:.2f} s" + (f" ({FAILS[0]} float32 SVDs did not converge, redone in float64)"
                                               if FAILS[0] else ""))


if __name__ == "__main__":
    main()
