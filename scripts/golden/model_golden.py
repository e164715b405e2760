#!/usr/bin/python3
"""Golden forward/backward and DisTaC-step outputs of the ViT and MLP for distac/model.

Run with Debian's python3 (python3-torch), from the repository root:

    /usr/bin/python3 scripts/golden/model_golden.py [distac/model/testdata]

The models are bench/peers/vit_torch.py (open_clip's VisionTransformer names and
math, and the MLP). Every input (weights, head, images) is drawn with a fixed seed,
rounded to float32 (what the files store) and the outputs are computed in float64
from those rounded values, then stored as float32. Files:

  vit_golden.safetensors        GELU ViT, image 28 / patch 7 / width 64 / 4 layers / 4 heads, 1 channel
  vit_quick_golden.safetensors  QuickGELU ViT, image 16 / patch 4 / width 24 / 2 layers / 3 heads, 3 channels
  mlp_golden.safetensors        MLP 784 -> 128 -> 64 -> 32, GELU
      student.<name>, teacher.<name>, head, images, features.student, logits.teacher,
      logits.student, loss (1), grad.<name> (dL/dtheta of the KL loss, no anchor)
  vit_steps_golden.safetensors  6 DisTaC steps of the quick ViT on one batch
      init.<name>, teacher.<name>, head, images, loss_per_step, grad_norm_per_step, final.<name>

Each file's __metadata__ holds the config JSON, the temperatures, batch and
classes, and for the steps file the optimiser settings. The script asserts that
the state-dict names are open_clip's, that the module forward equals a forward
written out op by op, and that the gradient matches a central difference.

The steps case is rerun in float32 (what the engine computes) to show how far
the two drift apart (metadata f32_update_rel_err, ~1e-4 of final - init). One
slice is ill-conditioned by nature: the keys' third of every in_proj_bias has
zero gradient in exact arithmetic, and Adam plus the anchor amplify its
rounding noise into moves of about lr (metadata f32_note); compare it with an
absolute bound, not against these values.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "peers"))
import vit_torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stfile  # noqa: E402

torch.set_default_dtype(torch.float64)

VIT_CFG = {"embed_dim": 32, "quick_gelu": False,
           "vision_cfg": {"image_size": 28, "patch_size": 7, "width": 64, "layers": 4, "heads": 4,
                          "mlp_ratio": 4.0, "in_channels": 1}}
QUICK_CFG = {"embed_dim": 12, "quick_gelu": True,
             "vision_cfg": {"image_size": 16, "patch_size": 4, "width": 24, "layers": 2, "heads": 3,
                            "mlp_ratio": 4.0, "in_channels": 3}}
MLP_CFG = {"embed_dim": 32, "mlp_cfg": {"in_features": 784, "hidden": [128, 64], "activation": "gelu"}}

# name, config, classes, batch, (T_tcr, T_stu), seed, image shape (C, H, W)
CASES = [
    ("vit_golden", VIT_CFG, 10, 6, (10.0, 10.0), 1001, (1, 28, 28)),
    ("vit_quick_golden", QUICK_CFG, 7, 5, (1.0, 10.0), 1002, (3, 16, 16)),
    ("mlp_golden", MLP_CFG, 10, 6, (2.0, 3.0), 1003, (1, 28, 28)),
]
# The steps case starts the student close to its teacher (tau_rel 0.003): the first
# anchored gradient is well below the clip norm, and Adam's first update (about lr per
# element whatever the gradient's size) overshoots, so the later ones are well above it.
STEPS = {"steps": 6, "lr": 1e-3, "warmup": 4, "beta": 0.05, "clip": 1.0, "t_tcr": 10.0, "t_stu": 10.0,
         "classes": 7, "batch": 5, "seed": 1006, "tau_rel": 0.003}
# Teacher = student + tau_rel * rms(tensor) * randn: a task-vector-like offset at the tensor's own scale.
TAU_REL = 0.5
HEAD_SCALE = 20.0


def open_clip_names(cfg):
    """The state-dict names of open_clip's VisionTransformer (written out, not read from the model)."""
    names = ["conv1.weight", "class_embedding", "positional_embedding", "ln_pre.weight", "ln_pre.bias"]
    for i in range(cfg["vision_cfg"]["layers"]):
        p = f"transformer.resblocks.{i}."
        names += [p + s for s in ("ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias",
                                  "attn.out_proj.weight", "attn.out_proj.bias", "ln_2.weight", "ln_2.bias",
                                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")]
    return names + ["ln_post.weight", "ln_post.bias", "proj"]


def mlp_names(cfg):
    n = len(cfg["mlp_cfg"]["hidden"]) + 1
    return [f"fc.{i}.{s}" for i in range(n) for s in ("weight", "bias")]


def expected_names(cfg):
    return open_clip_names(cfg) if "vision_cfg" in cfg else mlp_names(cfg)


def f32(t):
    """Rounds to float32 and back: the value a file stores."""
    return t.float().double()


def init_params(model, gen):
    """Realistic random weights: torch's default uniform(+-1/sqrt(fan_in)) for matrices and
    kernels and (non-zero) for every bias, width^-0.5 randn embeddings, LayerNorm 1 + 0.1 randn
    and 0.1 randn so the affine parameters matter."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            if ".ln_" in "." + name:
                v = (1 + 0.1 * torch.randn(p.shape, generator=gen)) if name.endswith("weight") \
                    else 0.1 * torch.randn(p.shape, generator=gen)
            elif name in ("class_embedding", "positional_embedding", "proj"):
                v = p.shape[0 if name == "proj" else -1] ** -0.5 * torch.randn(p.shape, generator=gen)
            else:
                w = params[name[:-len("bias")] + "weight"] if name.endswith("bias") else p
                bound = 1 / math.sqrt(w[0].numel())  # fan_in: in_features or C*P*P
                v = (2 * torch.rand(p.shape, generator=gen) - 1) * bound
            p.copy_(f32(v))


def perturbed(model, gen, tau_rel):
    """A copy of model moved by a random task-vector-like offset."""
    other = vit_torch.build_model(model.cfg)
    other.cfg = model.cfg
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in other.parameters():
            rms = p.pow(2).mean().sqrt()
            p.add_(tau_rel * rms * torch.randn(p.shape, generator=gen))
            p.copy_(f32(p))
    return other


def make_case(cfg, classes, batch, image_shape, seed, tau_rel=TAU_REL):
    gen = torch.Generator().manual_seed(seed)
    student = vit_torch.build_model(cfg)
    student.cfg = cfg
    init_params(student, gen)
    teacher = perturbed(student, gen, tau_rel)
    head = f32(HEAD_SCALE * torch.nn.functional.normalize(torch.randn(classes, cfg["embed_dim"], generator=gen), dim=-1))
    images = f32(torch.randn((batch,) + image_shape, generator=gen))
    got = sorted(student.state_dict().keys())
    want = sorted(expected_names(cfg))
    assert got == want, f"state-dict names differ from open_clip's: {set(got) ^ set(want)}"
    return student, teacher, head, images


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + vit_torch.LN_EPS) * w + b


def explicit_vit(sd, cfg, images):
    """The ViT forward op by op from the state dict: the math distac/model implements."""
    v = cfg["vision_cfg"]
    P, w, h = v["patch_size"], v["width"], v["heads"]
    B, C, S, _ = images.shape
    g = S // P
    # patch (i, j) -> row i*g + j, columns in (c, ky, kx) order: a matmul with conv1 as (w, C*P*P)
    patches = images.reshape(B, C, g, P, g, P).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, C * P * P)
    x = patches @ sd["conv1.weight"].reshape(w, -1).T
    x = torch.cat([sd["class_embedding"].expand(B, 1, w), x], 1) + sd["positional_embedding"]
    x = layer_norm(x, sd["ln_pre.weight"], sd["ln_pre.bias"])
    act = (lambda t: t * torch.sigmoid(1.702 * t)) if cfg["quick_gelu"] else \
        (lambda t: 0.5 * t * (1 + torch.erf(t / math.sqrt(2))))
    d = w // h
    for i in range(v["layers"]):
        p = f"transformer.resblocks.{i}."
        y = layer_norm(x, sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        qkv = y @ sd[p + "attn.in_proj_weight"].T + sd[p + "attn.in_proj_bias"]  # rows: q, k, v
        q, k, vv = (t.reshape(B, -1, h, d).transpose(1, 2) for t in qkv.split(w, -1))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ vv
        att = att.transpose(1, 2).reshape(B, -1, w)
        x = x + att @ sd[p + "attn.out_proj.weight"].T + sd[p + "attn.out_proj.bias"]
        y = layer_norm(x, sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        y = act(y @ sd[p + "mlp.c_fc.weight"].T + sd[p + "mlp.c_fc.bias"])
        x = x + y @ sd[p + "mlp.c_proj.weight"].T + sd[p + "mlp.c_proj.bias"]
    x = layer_norm(x, sd["ln_post.weight"], sd["ln_post.bias"])
    return x[:, 0] @ sd["proj"]


def explicit_mlp(sd, cfg, images):
    x = images.flatten(1)
    n = len(cfg["mlp_cfg"]["hidden"]) + 1
    for i in range(n):
        x = x @ sd[f"fc.{i}.weight"].T + sd[f"fc.{i}.bias"]
        if i + 1 < n:
            x = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    return x


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def forward_backward(student, teacher, head, images, tt, ts):
    with torch.no_grad():
        zt = vit_torch.zero_shot_logits(teacher(images), head)
    student.zero_grad(set_to_none=True)
    feats = student(images)
    zs = vit_torch.zero_shot_logits(feats, head)
    loss = vit_torch.distac_loss(zt, zs, tt, ts)
    loss.backward()
    return feats.detach(), zt, zs.detach(), loss.detach()


def check_case(student, teacher, head, images, tt, ts, feats, zt, grads, gen):
    """Independent checks of the torch results (assertions)."""
    cfg = student.cfg
    explicit = explicit_vit if "vision_cfg" in cfg else explicit_mlp
    with torch.no_grad():
        e = rel(explicit(student.state_dict(), cfg, images), feats)
        assert e < 1e-12, f"module forward vs explicit forward: rel err {e:.3g}"
        et = rel(explicit(teacher.state_dict(), cfg, images), teacher(images))
        assert et < 1e-12, f"teacher forward vs explicit: rel err {et:.3g}"
        # d/de L(theta + e v) at 0 by a central difference, v random over every parameter.
        params = list(student.parameters())
        dirs = [torch.randn(p.shape, generator=gen) for p in params]
        want = sum((g * v).sum() for g, v in zip(grads, dirs)).item()
        eps, ls = 1e-5, []
        for sign in (1, -1):
            for p, v in zip(params, dirs):
                p.add_(sign * eps * v)
            ls.append(vit_torch.distac_loss(zt, vit_torch.zero_shot_logits(student(images), head), tt, ts).item())
            for p, v in zip(params, dirs):
                p.sub_(sign * eps * v)
        fd = (ls[0] - ls[1]) / (2 * eps)
        assert abs(fd - want) <= 1e-6 * max(1.0, abs(want)), f"gradient vs central difference: {want} vs {fd}"
    return e, abs(fd - want) / max(1.0, abs(want))


DTYPE_NAMES = {torch.float32: "F32"}


def save(path, tensors, metadata):
    """Writes a safetensors file of (name, tensor) pairs as F32 (stfile.py)."""
    entries = []
    for name, t in tensors:
        t = t.detach().float().contiguous()
        entries.append((name, DTYPE_NAMES[t.dtype], t.shape, t.numpy().astype("<f4").tobytes()))
    stfile.write(path, entries, metadata)


def named(prefix, model):
    return [(prefix + n, p.detach()) for n, p in model.state_dict().items()]


def write_case(outdir, name, cfg, classes, batch, temps, seed, image_shape):
    student, teacher, head, images = make_case(cfg, classes, batch, image_shape, seed)
    tt, ts = temps
    feats, zt, zs, loss = forward_backward(student, teacher, head, images, tt, ts)
    grads = [p.grad.detach().clone() for p in student.parameters()]
    fwd_err, grad_err = check_case(student, teacher, head, images, tt, ts, feats, zt, grads,
                                   torch.Generator().manual_seed(seed + 100))
    gnames = [n for n, _ in student.named_parameters()]
    tensors = named("student.", student) + named("teacher.", teacher) + [
        ("head", head), ("images", images), ("features.student", feats), ("logits.teacher", zt),
        ("logits.student", zs), ("loss", loss.reshape(1))] + [("grad." + n, g) for n, g in zip(gnames, grads)]
    meta = {"config": json.dumps(cfg), "t_tcr": repr(tt), "t_stu": repr(ts), "classes": str(classes),
            "batch": str(batch), "seed": str(seed), "loss": "T_tcr*T_stu*KL(softmax(z_tcr/T_tcr)||softmax(z_stu/T_stu)), batch mean",
            "head": "logits = normalize(features, eps 1e-12) @ head.T", "computed_in": "float64 from the stored float32 inputs"}
    path = os.path.join(outdir, name + ".safetensors")
    save(path, tensors, meta)
    print(f"{name}: loss {loss.item():.6g}, max|z_tcr - z_stu| {(zt - zs).abs().max().item():.3g}, "
          f"explicit-forward rel err {fwd_err:.2g}, central-difference err {grad_err:.2g}")
    for n, g in zip(gnames, grads):
        print(f"    grad.{n:<46} max|g| {g.abs().max().item():.3e}")
    return path


def run_steps(cfg, init, teacher, head, images, dtype):
    """STEPS["steps"] DisTaC steps from init in dtype; returns losses, norms, final state dict."""
    student = vit_torch.build_model(cfg).to(dtype)
    student.load_state_dict(init)
    teacher = teacher.to(dtype)
    step = vit_torch.DistacStep(student, teacher, head.to(dtype), STEPS["t_tcr"], STEPS["t_stu"], STEPS["lr"],
                                STEPS["warmup"], STEPS["beta"], STEPS["clip"])
    losses, norms = [], []
    x = images.to(dtype)
    for _ in range(STEPS["steps"]):
        loss, norm = step.step(x)
        losses.append(loss.double())
        norms.append(norm.double())
    return torch.stack(losses), torch.stack(norms), {n: p.detach().double() for n, p in student.state_dict().items()}


def write_steps(outdir):
    s = STEPS
    student, teacher, head, images = make_case(QUICK_CFG, s["classes"], s["batch"], (3, 16, 16), s["seed"], s["tau_rel"])
    init = {n: p.detach().clone() for n, p in student.state_dict().items()}
    teacher32 = vit_torch.build_model(QUICK_CFG)
    teacher32.load_state_dict(teacher.state_dict())
    losses, norms, final = run_steps(QUICK_CFG, init, teacher, head, images, torch.float64)
    # The same run in float32 (what the engine computes): how far the two drift apart.
    _, norms32, final32 = run_steps(QUICK_CFG, init, teacher32, head, images, torch.float32)
    # The key third of in_proj_bias has zero gradient in exact arithmetic (softmax is
    # shift-invariant). Below eps, Adam steps lr/eps * g, and the anchor's 2*beta*(theta - init)
    # then feeds back with gain lr/eps * 2*beta = 1e4: rounding noise grows ~300x a step until
    # it moves by about lr. That slice is left out of the drift and reported apart.
    w = QUICK_CFG["vision_cfg"]["width"]
    upd, upd32, key_drift = [], [], 0.0
    for n in init:
        d, d32 = final[n] - init[n], final32[n] - init[n]
        if n.endswith("attn.in_proj_bias"):
            key_drift = max(key_drift, (d32[w:2 * w] - d[w:2 * w]).abs().max().item())
            d, d32 = torch.cat([d[:w], d[2 * w:]]), torch.cat([d32[:w], d32[2 * w:]])
        upd.append(d.flatten())
        upd32.append(d32.flatten())
    drift = rel(torch.cat(upd32), torch.cat(upd))
    print("vit_steps_golden: loss per step " + " ".join(f"{v:.6g}" for v in losses.tolist()))
    print("    anchored grad norm per step " + " ".join(f"{v:.4g}" for v in norms.tolist()) + f" (clip {s['clip']})")
    print(f"    float32 replay: update rel err {drift:.2g} (key bias aside), grad norm rel err "
          f"{rel(norms32, norms):.2g}, key-bias update max abs diff {key_drift:.2g}")
    assert (norms > 1.5 * s["clip"]).any() and (norms < s["clip"] / 1.5).any(), \
        "want steps well above and well below the clip threshold"
    assert (norms - s["clip"]).abs().min() > 0.2 * s["clip"], "a grad norm sits near the clip threshold"
    assert drift < 1e-3, f"float32 and float64 runs drift apart: {drift:.3g}"
    tensors = [("init." + n, init[n]) for n in init] + named("teacher.", teacher) + [
        ("head", head), ("images", images), ("loss_per_step", losses), ("grad_norm_per_step", norms)] + [
        ("final." + n, final[n]) for n in final]
    meta = {"config": json.dumps(QUICK_CFG), "t_tcr": repr(s["t_tcr"]), "t_stu": repr(s["t_stu"]),
            "classes": str(s["classes"]), "batch": str(s["batch"]), "seed": str(s["seed"]), "steps": str(s["steps"]),
            "lr": repr(s["lr"]), "warmup": str(s["warmup"]), "beta": repr(s["beta"]), "clip": repr(s["clip"]),
            "adam": "betas (0.9, 0.999), eps 1e-8, weight_decay 0, lr_t = lr*min(1, t/warmup), t from 1",
            "anchor": "grad += 2*beta*(theta - init) before clipping",
            "clip_rule": "g *= min(1, clip/(norm + 1e-6)), norm over every parameter's anchored grad",
            "loss_per_step": "KL loss of each step's forward, before its update",
            "tau_rel": repr(s["tau_rel"]),
            "f32_update_rel_err": f"{drift:.3g}",
            "f32_key_bias_abs_diff": f"{key_drift:.3g}",
            "f32_note": "a float32 torch run of the same steps: f32_update_rel_err is ||d32 - d|| / ||d|| "
                        "over d = final - init, leaving out in_proj_bias[width:2*width] (the keys' bias): its "
                        "gradient is zero in exact arithmetic, and Adam (steps of lr/eps * 2*beta = 1e4 times a "
                        "gradient below eps) with the anchor blows its rounding noise up to moves of about lr, in "
                        "float64 too (max abs diff f32_key_bias_abs_diff): compare that slice with an absolute bound",
            "computed_in": "float64 from the stored float32 inputs"}
    path = os.path.join(outdir, "vit_steps_golden.safetensors")
    save(path, tensors, meta)
    return path


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("distac", "model", "testdata")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)  # reduction order fixed: the same bytes on every run
    paths = [write_case(outdir, *case) for case in CASES]
    paths.append(write_steps(outdir))
    total = sum(os.path.getsize(p) for p in paths)
    for p in paths:
        print(f"wrote {p} ({os.path.getsize(p) / 1e6:.2f} MB)")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
