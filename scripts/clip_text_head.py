#!/usr/bin/env python3
"""Class embeddings from a CLIP text tower, for `distac head --embeddings`.

For each class name, every prompt template is filled in, encoded by the text
tower, L2-normalised, and the normalised embeddings are averaged and
normalised again (the prompt ensembling of CLIP's zero-shot classifier).
The result is a (classes, embed_dim) float32 matrix; `distac head` turns it
into a head with row c = logit_scale * e_c (logit_scale = exp of the model's
learned logit_scale, 100 for OpenAI's weights; the script prints it).

    # open_clip (pip install open_clip_torch):
    python3 scripts/clip_text_head.py --open-clip ViT-B-32 --pretrained openai \
        --classes classes.txt --out classes.npy
    # transformers (pip install transformers), a CLIPModel folder or hub name:
    python3 scripts/clip_text_head.py --hf openai/clip-vit-base-patch32 \
        --classes classes.txt --out classes.safetensors
    distac head --embeddings classes.npy --logit-scale 100 --model base --out task.head.safetensors

classes.txt holds one class name per line, in label order. --template (repeatable)
replaces the default templates; "{}" stands for the class name. A .safetensors
output holds the tensor "embeddings" and the class names in its metadata
(distac.classes), which distac head carries into the head file.

Needs PyTorch and one of open_clip or transformers; it is not run in CI (no
weights ship with distac).
"""

import argparse
import json
import math
import struct
import sys

# A short form of the templates of CLIP's ImageNet zero-shot evaluation
# (openai/CLIP notebooks/Prompt_Engineering_for_ImageNet.ipynb).
TEMPLATES = [
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a pixelated photo of the {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "a sketch of a {}.",
    "a low resolution photo of a {}.",
    "a photo of a large {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a photo of a small {}.",
    "itap of a {}.",
]


def encoder_open_clip(name, pretrained, device):
    import open_clip
    import torch

    model, _, _ = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)

    def encode(texts):
        with torch.no_grad():
            return model.encode_text(tokenizer(texts).to(device)).float()

    return encode, float(model.logit_scale.exp())


def encoder_hf(name, device):
    import torch
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(name).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(name)

    def encode(texts):
        batch = tokenizer(texts, padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            return model.get_text_features(**batch).float()

    return encode, float(model.logit_scale.exp())


def class_embeddings(encode, classes, templates):
    import torch

    rows = []
    for c in classes:
        e = encode([t.format(c) for t in templates])
        e = e / e.norm(dim=-1, keepdim=True)
        m = e.mean(dim=0)
        rows.append(m / m.norm())
    return torch.stack(rows).cpu().contiguous()


def write_npy(path, w):
    """float32 little-endian .npy, version 1.0, C order."""
    rows, cols = w.shape
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(w.numpy().astype("<f4").tobytes())


def write_safetensors(path, w, classes, scale):
    """One F32 tensor "embeddings", class names and logit scale in the metadata."""
    rows, cols = w.shape
    meta = {"distac.classes": ",".join(classes), "distac.logit_scale": repr(scale)}
    header = {"__metadata__": meta, "embeddings": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, 4 * rows * cols]}}
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
        f.write(w.numpy().astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--open-clip", metavar="MODEL", help="open_clip model name (ViT-B-32, ...)")
    src.add_argument("--hf", metavar="NAME_OR_DIR", help="transformers CLIPModel folder or hub name")
    ap.add_argument("--pretrained", default="openai", help="open_clip pretrained tag or checkpoint path")
    ap.add_argument("--classes", required=True, help="file of class names, one a line, in label order")
    ap.add_argument("--template", action="append", help='prompt template with "{}" (repeat; default: CLIP\'s)')
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True, help="output .npy or .safetensors")
    a = ap.parse_args()
    with open(a.classes, encoding="utf-8") as f:
        classes = [line.strip() for line in f if line.strip()]
    if not classes:
        sys.exit("no class names in " + a.classes)
    if any("," in c for c in classes) and a.out.endswith(".safetensors"):
        sys.exit("class names with commas cannot go into distac.classes")
    if a.open_clip:
        encode, scale = encoder_open_clip(a.open_clip, a.pretrained, a.device)
    else:
        encode, scale = encoder_hf(a.hf, a.device)
    w = class_embeddings(encode, classes, a.template or TEMPLATES)
    if not math.isfinite(float(w.abs().sum())):
        sys.exit("the text tower gave non-finite embeddings")
    if a.out.endswith(".npy"):
        write_npy(a.out, w)
    else:
        write_safetensors(a.out, w, classes, scale)
    print("wrote %s: %d classes x %d; logit scale %.4g (distac head --logit-scale %.4g)" % (a.out, w.shape[0], w.shape[1], scale, scale))


if __name__ == "__main__":
    main()
