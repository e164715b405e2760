#!/usr/bin/python3
"""Golden outputs of TIES, TSV-M, Iso-C and Iso-CTS for distac's merge tests.

Run with Debian's python3 (python3-torch, python3-numpy), from the repository root:

    /usr/bin/python3 scripts/golden/merge_golden.py [distac/merge/testdata/golden]

It writes small models (a base and three fine-tuned models, once in f32 and once in
bf16) and, for each method, the merged model in f32. The merges follow the reference
implementations of the papers (TIES-merging, Task Singular Vectors, Iso-C/Iso-CTS),
computed in float64 with torch.linalg.svd, on task vectors tau = f32(ft) - f32(base)
as distac forms them. Each output's __metadata__ names the method and its parameters;
distac/golden_test.go reruns the merge from those and compares (1e-5 relative).

Conventions shared with distac's merge methods:
  * a "2-D weight" is any 2-D tensor whose name has no "embed" in it; every other
    float tensor is averaged by the SVD methods;
  * integer tensors are copied from the base;
  * TIES keeps the ceil(k/100 * n) largest |tau| entries of a task over all its float
    tensors (a product within rounding of an integer counts as that integer), with the
    threshold test |x| >= threshold.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stfile  # noqa: E402

torch.set_default_dtype(torch.float64)

LAYOUT = [
    ("visual.transformer.resblocks.0.attn.in_proj_weight", (48, 16)),
    ("visual.transformer.resblocks.0.attn.in_proj_bias", (48,)),
    ("visual.transformer.resblocks.0.attn.out_proj.weight", (16, 16)),
    ("visual.transformer.resblocks.0.mlp.c_proj.weight", (16, 40)),
    ("visual.ln_post.weight", (16,)),
    ("visual.conv1.weight", (16, 3, 2, 2)),
    ("visual.positional_embedding", (5, 16)),
    ("visual.proj", (16, 8)),
]
INT_TENSOR = ("num_batches_tracked", (1,))
TASKS = 3

DTYPE_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}


def save(path, tensors, metadata):
    """Writes a safetensors file of (name, tensor) pairs (stfile.py)."""
    entries = []
    for name, t in tensors:
        t = t.contiguous()
        if t.dtype in (torch.bfloat16, torch.float16):
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        entries.append((name, DTYPE_NAMES[t.dtype], t.shape, raw))
    stfile.write(path, entries, metadata)


def make_models(gen):
    base, tasks = {}, [{} for _ in range(TASKS)]
    shared = {n: torch.randn(s, generator=gen) for n, s in LAYOUT}
    for n, s in LAYOUT:
        base[n] = 0.5 * torch.randn(s, generator=gen)
    for t in range(TASKS):
        scale = 0.05 * (1 + t)
        for n, s in LAYOUT:
            tasks[t][n] = base[n] + scale * (torch.randn(s, generator=gen) + 0.5 * shared[n])
    return base, tasks


def is_matrix(name, t):
    return t.dim() == 2 and "embed" not in name.lower()


def keep_count(frac, n):
    x = frac * n
    r = round(x)
    if abs(x - r) <= 4 * 2.0**-52 * x:
        return int(r)
    return int(math.ceil(x))


def ties(taus, k):
    """TIES: trim to the top k% per task (global over the task vector), elect the
    sign of the sum (zero elects +), disjoint mean."""
    thresholds = []
    for tv in taus:
        allabs = torch.cat([v.abs().flatten() for v in tv.values()])
        keep = keep_count(k / 100, allabs.numel())
        thresholds.append(torch.topk(allabs, keep).values[-1])
    out = {}
    for n in taus[0]:
        trimmed = torch.stack([torch.where(tv[n].abs() >= th, tv[n], torch.zeros_like(tv[n])) for tv, th in zip(taus, thresholds)])
        sign = torch.where(trimmed.sum(0) >= 0, 1.0, -1.0)
        agree = (trimmed != 0) & (torch.sign(trimmed) == sign)
        count = agree.sum(0)
        total = (trimmed * agree).sum(0)
        out[n] = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
    return out


def tsvm(taus):
    """Task Singular Vectors merge (compute_and_sum_svd_mem_reduction)."""
    out = {}
    T = len(taus)
    for n in taus[0]:
        if not is_matrix(n, taus[0][n]):
            out[n] = sum(tv[n] for tv in taus) / T
            continue
        for i, tv in enumerate(taus):
            u, s, v = torch.linalg.svd(tv[n], full_matrices=False)
            if i == 0:
                sum_u, sum_s, sum_v = torch.zeros_like(u), torch.zeros_like(s), torch.zeros_like(v)
            k = int(s.shape[0] / T)
            sum_u[:, i * k:(i + 1) * k] = u[:, :k]
            sum_s[i * k:(i + 1) * k] = s[:k]
            sum_v[i * k:(i + 1) * k, :] = v[:k, :]
        u_u, _, v_u = torch.linalg.svd(sum_u, full_matrices=False)
        u_v, _, v_v = torch.linalg.svd(sum_v, full_matrices=False)
        out[n] = torch.linalg.multi_dot((u_u, v_u, torch.diag(sum_s), u_v, v_v))
    return out


def iso_c(taus):
    out = {}
    T = len(taus)
    for n in taus[0]:
        m = sum(tv[n] for tv in taus)
        if not is_matrix(n, m):
            out[n] = m / T
            continue
        u, s, v = torch.linalg.svd(m, full_matrices=False)
        s_mean = torch.ones_like(s) * s.sum() / s.shape[0]
        out[n] = torch.linalg.multi_dot((u, torch.diag(s_mean), v))
    return out


def iso_cts(taus, common=0.8):
    out = {}
    T = len(taus)
    for n in taus[0]:
        combined = sum(tv[n] for tv in taus)
        if not is_matrix(n, combined):
            out[n] = combined / T
            continue
        r = min(combined.shape)
        kc = int(r * common)
        kc = r - round((r - kc) / T) * T
        u, s, v = torch.linalg.svd(combined, full_matrices=False)
        uc, sc, vc = u[:, :kc], s[:kc], v[:kc, :]
        per = int((r - kc) / T)
        cu, cs, cv = torch.zeros_like(u), torch.zeros_like(s), torch.zeros_like(v)
        for i, tv in enumerate(taus):
            w = tv[n] - uc @ uc.T @ tv[n]
            ut, st, vt = torch.linalg.svd(w, full_matrices=False)
            cu[:, i * per:(i + 1) * per] = ut[:, :per]
            cs[i * per:(i + 1) * per] = st[:per]
            cv[i * per:(i + 1) * per, :] = vt[:per, :]
        cu[:, T * per:T * per + kc] = uc
        cs[T * per:T * per + kc] = sc
        cv[T * per:T * per + kc, :] = vc
        a, _, b = torch.linalg.svd(cu, full_matrices=False)
        cu = a @ b
        a, _, b = torch.linalg.svd(cv, full_matrices=False)
        cv = a @ b
        cs = torch.ones_like(cs) * cs.mean()
        out[n] = torch.linalg.multi_dot((cu, torch.diag(cs), cv))
    return out


METHODS = [
    ("ties", {"alpha": 0.9, "k": 20}, lambda taus, p: ties(taus, p["k"])),
    ("tsvm", {"alpha": 1.0}, lambda taus, p: tsvm(taus)),
    ("isoc", {"alpha": 1.3}, lambda taus, p: iso_c(taus)),
    ("isocts", {"alpha": 1.1}, lambda taus, p: iso_cts(taus)),
]


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "distac/merge/testdata/golden"
    os.makedirs(outdir, exist_ok=True)
    gen = torch.Generator().manual_seed(20250801)
    base64, tasks64 = make_models(gen)
    steps = torch.tensor([1234], dtype=torch.int64)
    for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        base = {n: v.to(dtype) for n, v in base64.items()}
        tasks = [{n: v.to(dtype) for n, v in tv.items()} for tv in tasks64]
        save(os.path.join(outdir, f"{tag}-base.safetensors"),
             [(n, base[n]) for n, _ in LAYOUT] + [(INT_TENSOR[0], steps)], {"format": "pt"})
        for t, tv in enumerate(tasks):
            save(os.path.join(outdir, f"{tag}-task{t}.safetensors"),
                 [(n, tv[n]) for n, _ in LAYOUT] + [(INT_TENSOR[0], steps + t + 1)], {"format": "pt"})
        # tau exactly as distac forms it: f32 subtraction of the stored values
        taus = [{n: (tv[n].float() - base[n].float()).double() for n, _ in LAYOUT} for tv in tasks]
        for name, params, fn in METHODS:
            delta = fn(taus, params)
            merged = [(n, (base[n].double() + params["alpha"] * delta[n]).float()) for n, _ in LAYOUT]
            meta = {"method": name}
            meta.update({k: repr(float(v)) if k == "alpha" else str(v) for k, v in params.items()})
            save(os.path.join(outdir, f"{tag}-{name}.safetensors"), merged + [(INT_TENSOR[0], steps)], meta)
    print("wrote golden models to", outdir)


if __name__ == "__main__":
    main()
