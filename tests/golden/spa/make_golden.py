"""A tiny random-weight SPA ViT and its reference features, made with SPA's own code
(github.com/HaoyiZhu/SPA, commit 37b7e04, `spa/models/components/img_backbones/vit.py`:
`ViTEncoder`, the class `spa_vit_base_patch16` / `spa_vit_large_patch16` build; timm 0.9.10)
on the CPU.

    python make_golden.py /path/to/SPA        # writes into this folder
    python make_golden.py /path/to/SPA --size base --out DIR   # ViT-B (or large) at real size

The real-size runs (`spa_vit_base_patch16`: 768 wide, 12 blocks, 12 heads;
`spa_vit_large_patch16`: 1024, 24, 16) are not committed (340 MB / 1.2 GB); point
`SPATIALSCOPE_SPA_REAL=DIR cargo test --test it spa` at one (`tests/it/spa.rs`).

SPA's package `__init__` pulls in its training stack; the encoder module is loaded from the
checkout directly (the package path registered without running `spa/__init__.py`).

- `tiny_spa.safetensors`: a `ViTEncoder(img_size=224, patch_size=16, embed_dim=64,
  depth=4, num_heads=2, mlp_ratio=4, qkv_bias=True, LayerNorm eps 1e-6)` (the base/large
  recipe at a tiny width), every parameter randomised (norms, biases, class token, position
  embedding included), stored under the released checkpoint's prefix `model.img_backbone.`
  as SPA's `load_pretrained` expects it, float32; `num_heads` in the safetensors metadata
  (the shapes do not say it; the released widths use 64-wide heads).
- `golden.safetensors`: `image` (1 x 3 x 224 x 224 in [0, 1]: the RLBench sample's front
  frame 0, 256 px, resized by bilinear interpolation as SPA's `visualize_featuremap.py`
  does) and `feature_map` = `model(image, feature_map=True, cat_cls=False)` (1 x 64 x 14 x
  14: ImageNet normalisation, patch embedding, blocks, final norm), and `cls` (the class
  token output).
"""

import sys
import types
from functools import partial
from pathlib import Path

import imageio.v3 as iio
import torch
import torch.nn as nn
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
FRAME = REPO_ROOT / "sample_episodes/sim_rlbench/lift/variation0/episodes/episode0/front_rgb/0.png"


def load_vit(spa_root: Path):
    for name in ["spa", "spa.utils", "spa.models", "spa.models.components", "spa.models.components.img_backbones"]:
        mod = types.ModuleType(name)
        mod.__path__ = [str(spa_root / name.replace(".", "/"))]
        sys.modules[name] = mod
    import importlib

    return importlib.import_module("spa.models.components.img_backbones.vit")


SIZES = {"tiny": (64, 4, 2), "base": (768, 12, 12), "large": (1024, 24, 16)}


def main():
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("spa_root")
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--out", default=str(HERE))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    width, depth, heads = SIZES[a.size]
    vit = load_vit(Path(a.spa_root).resolve())
    torch.manual_seed(3)
    model = vit.ViTEncoder(
        img_size=224,
        patch_size=16,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        qkv_bias=True,
    )
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias") or name in ("cls_token", "pos_embed"):
                p.copy_(0.3 * noise)
            else:
                fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
                p.copy_(noise / fan_in**0.5)
    model.eval()
    sd = {f"model.img_backbone.{k}": v.contiguous() for k, v in model.state_dict().items()}
    name = "tiny_spa.safetensors" if a.size == "tiny" else "spa.safetensors"
    save_file(sd, str(out / name), metadata={"num_heads": str(heads)})

    img = torch.from_numpy(iio.imread(FRAME)[..., :3]).float().permute(2, 0, 1)[None] / 255.0
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear")
    with torch.no_grad():
        fmap = model(img, feature_map=True, cat_cls=False)
        cls = model(img)
    save_file(
        {"image": img.contiguous(), "feature_map": fmap.contiguous(), "cls": cls.contiguous()},
        str(out / "golden.safetensors"),
    )
    print(tuple(fmap.shape), float(fmap.abs().max()), sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
