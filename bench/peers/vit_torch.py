#!/usr/bin/python3
"""Reference models and the DisTaC step in plain PyTorch (no open_clip).

The ViT is open_clip's VisionTransformer with the same state-dict names (no
prefix) and the same math; the MLP is distac's small test encoder. Both map
images to features; a frozen zero-shot head turns features into logits:

    logits = normalize(features) @ head.T            head: (classes, embed_dim)

The DisTaC loss and step (arXiv 2508.01148):

    L = T_tcr * T_stu * KL(softmax(z_tcr / T_tcr) || softmax(z_stu / T_stu)), batch mean
    g = dL/dtheta + 2 beta (theta - theta_init)       (coupled anchor)
    g *= min(1, clip / (||g|| + 1e-6))                 (torch.nn.utils.clip_grad_norm_)
    Adam(0.9, 0.999, eps 1e-8), lr_t = lr * min(1, t / warmup), t = 1, 2, ...

Configs are dicts in open_clip form:
    {"embed_dim": E, "quick_gelu": bool, "vision_cfg": {"image_size": S, "patch_size": P,
     "width": w, "layers": L, "heads": h, "mlp_ratio": 4.0, "in_channels": C}}
    {"embed_dim": E, "mlp_cfg": {"in_features": n, "hidden": [h1, h2], "activation": "gelu"}}
(in_channels is distac's addition, default 3). Imported by
scripts/golden/model_golden.py and bench/peers/distac_step_torch.py.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-5
QUICK_GELU_ALPHA = 1.702


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation of OpenAI's CLIP."""

    def forward(self, x):
        return x * torch.sigmoid(QUICK_GELU_ALPHA * x)


def activation(quick):
    return QuickGELU() if quick else nn.GELU()  # nn.GELU: the exact (erf) form


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm computed in fp32 whatever the input's dtype, cast back to
    it: open_clip's LayerNormFp32. Under torch 1.13's CPU autocast a bf16
    input would otherwise meet the fp32 weights and fail."""

    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype)


class ResidualAttentionBlock(nn.Module):
    """x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)), open_clip's pre-LN block."""

    def __init__(self, width, heads, mlp_ratio, quick_gelu):
        super().__init__()
        self.ln_1 = LayerNorm(width, eps=LN_EPS)
        # Sequence-first (L, N, D) like open_clip before batch_first; dropout 0.
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = LayerNorm(width, eps=LN_EPS)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", activation(quick_gelu)),
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio, quick_gelu):
        super().__init__()
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu) for _ in range(layers)])

    def forward(self, x):
        for block in self.resblocks:
            x = block(x)
        return x


class VisionTransformer(nn.Module):
    """open_clip's VisionTransformer (class-token pooling, no attention pooling).

    images (B, C, S, S) -> conv1 patchify (stride P) -> (B, grid^2, width) tokens
    -> prepend class_embedding -> + positional_embedding -> ln_pre -> blocks
    -> ln_post -> token 0 -> @ proj -> features (B, embed_dim).
    """

    def __init__(self, image_size, patch_size, width, layers, heads, mlp_ratio, embed_dim,
                 in_channels=3, quick_gelu=False):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.grid = image_size // patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(self.grid * self.grid + 1, width))
        self.ln_pre = LayerNorm(width, eps=LN_EPS)
        self.transformer = Transformer(width, layers, heads, mlp_ratio, quick_gelu)
        self.ln_post = LayerNorm(width, eps=LN_EPS)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))

    @classmethod
    def from_config(cls, cfg):
        v = cfg["vision_cfg"]
        return cls(v["image_size"], v["patch_size"], v["width"], v["layers"], v["heads"],
                   v.get("mlp_ratio", 4.0), cfg["embed_dim"], v.get("in_channels", 3),
                   cfg.get("quick_gelu", False))

    def forward(self, images):
        x = self.conv1(images)                      # (B, width, grid, grid)
        x = x.flatten(2).transpose(1, 2)            # (B, grid^2, width), row-major patches
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.transpose(0, 1)).transpose(0, 1)
        x = self.ln_post(x)
        return x[:, 0] @ self.proj


class MLP(nn.Module):
    """flatten (C*H*W) -> fc.0 -> act -> fc.1 -> act ... -> fc.last (no activation)."""

    def __init__(self, in_features, hidden, embed_dim, act="gelu"):
        super().__init__()
        if act not in ("gelu", "quick_gelu"):
            raise ValueError(f"activation {act!r}: want gelu or quick_gelu")
        sizes = [in_features] + list(hidden) + [embed_dim]
        self.fc = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.act = activation(act == "quick_gelu")

    @classmethod
    def from_config(cls, cfg):
        m = cfg["mlp_cfg"]
        return cls(m["in_features"], m["hidden"], cfg["embed_dim"], m.get("activation", "gelu"))

    def forward(self, images):
        x = images.flatten(1)
        for i, layer in enumerate(self.fc):
            x = layer(x)
            if i + 1 < len(self.fc):
                x = self.act(x)
        return x


def build_model(cfg):
    """The encoder a config describes: vision_cfg -> ViT, mlp_cfg -> MLP."""
    if "vision_cfg" in cfg:
        return VisionTransformer.from_config(cfg)
    if "mlp_cfg" in cfg:
        return MLP.from_config(cfg)
    raise ValueError("config has neither vision_cfg nor mlp_cfg")


def zero_shot_logits(features, head):
    return F.normalize(features, dim=-1, eps=1e-12) @ head.T


def distac_loss(z_tcr, z_stu, t_tcr, t_stu):
    """T_tcr T_stu KL(teacher || student) at the two temperatures, batch mean."""
    return t_tcr * t_stu * F.kl_div(F.log_softmax(z_stu / t_stu, dim=-1), F.softmax(z_tcr / t_tcr, dim=-1),
                                    reduction="batchmean")


class DistacStep:
    """One DisTaC optimisation step of student towards a frozen teacher.

    theta_init is a copy of the student's parameters when the object is made
    (the anchor's centre). step() returns (KL loss before the update, total norm
    of the anchored gradient before clipping).
    """

    def __init__(self, student, teacher, head, t_tcr=10.0, t_stu=10.0, lr=1e-5, warmup=500,
                 beta=0.0, clip=1.0, bf16=False):
        self.student, self.teacher, self.head = student, teacher, head
        # bf16: both forwards under torch.autocast(bfloat16) (bf16 matmuls, fp32 weights),
        # the logits back in fp32 for the loss, as distac's --precision bf16
        self.bf16 = bf16
        self.t_tcr, self.t_stu = t_tcr, t_stu
        self.lr, self.warmup, self.beta, self.clip = lr, warmup, beta, clip
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.params = [p for p in student.parameters() if p.requires_grad]
        self.theta_init = [p.detach().clone() for p in self.params]
        self.opt = torch.optim.Adam(self.params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
        self.t = 0

    def step(self, images):
        self.t += 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            with torch.no_grad():
                z_tcr = zero_shot_logits(self.teacher(images), self.head)
            z_stu = zero_shot_logits(self.student(images), self.head)
        z_tcr, z_stu = z_tcr.float(), z_stu.float()
        loss = distac_loss(z_tcr, z_stu, self.t_tcr, self.t_stu)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p, p0 in zip(self.params, self.theta_init):
                p.grad.add_(p - p0, alpha=2 * self.beta)
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        for group in self.opt.param_groups:
            group["lr"] = self.lr * min(1.0, self.t / self.warmup)
        self.opt.step()
        return loss.detach(), norm.detach()
