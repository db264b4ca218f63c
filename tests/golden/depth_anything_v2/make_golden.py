"""Tiny random-weight Depth Anything V2 checkpoints and their reference outputs, made with
the official code (github.com/DepthAnything/Depth-Anything-V2, commit a561b84, Apache-2.0
for the code) on the CPU.

    python make_golden.py /path/to/Depth-Anything-V2   # writes into this folder

Two checkpoints, in the official state-dict names (`pretrained.*`, `depth_head.*`) as
safetensors, float32:
- `tiny_relative.safetensors`: `depth_anything_v2.dpt.DepthAnythingV2` (relative, affine-
  invariant inverse depth, final ReLU) with its DINOv2 swapped for a narrower one built by
  the same code (width 64, 2 heads of 32, 12 blocks, 518 px / 14 px patches, layer scale,
  interpolate offset 0.1) and a DPT head of width 32 (out channels 16/32/64/64).
- `tiny_metric.safetensors`: `metric_depth`'s variant (sigmoid x max_depth = 20 m).
`depth_anything_v2_tiny_relative.pth` is the relative one saved with `torch.save` as the
official `.pth` releases are (float32 embeddings, one non-contiguous weight, float16 rest).
The number of heads and, for the metric one, max_depth are stored in the safetensors
metadata (`num_heads`, `max_depth`): the shapes do not tell them (the released sizes use
64-wide heads, which the reader assumes when the metadata is absent).

Every parameter is randomised so that a wrong stage cannot pass: with the default init the
layer scales are exactly 1, norms 1/0, biases 0 and the class token ~1e-6.

Cases (`golden.safetensors`), each run through the official `infer_image` (BGR in, cv2
INTER_CUBIC resize to a multiple of 14 with the input size as lower bound, ImageNet
normalisation, forward, bilinear align-corners resize back):
- `square`: RLBench front camera frame (256 x 256) at input size 518: 37 x 37 patches, the
  position embedding used as stored.
- `wide`: a 256 x 176 crop of the same frame at input size 154: 11 x 16 patches, the
  position embedding resampled bicubically (rows and columns differ, so a swapped axis shows).
Weights are stored as float16 and the reference runs on exactly those values (the reader
widens any float dtype to float32). For each case: `<case>_input` (the network input), `<case>_relative` / `<case>_metric` (network
output at input resolution) and `<case>_relative_full` / `<case>_metric_full` (at the image
size). The square case keeps every 7th row and column of the input-resolution tensors and
every 2nd of the image-size ones (`step` below), the wide case all of them.
"""

import sys
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
FRAME = REPO_ROOT / "sample_episodes/sim_rlbench/lift/variation0/episodes/episode0/front_rgb/0.png"


def tiny(official: Path, metric: bool):
    root = official / "metric_depth" if metric else official
    sys.path.insert(0, str(root))
    for name in list(sys.modules):
        if name.startswith("depth_anything_v2"):
            del sys.modules[name]
    from depth_anything_v2.dpt import DepthAnythingV2, DPTHead
    from depth_anything_v2.dinov2 import DinoVisionTransformer
    from depth_anything_v2.dinov2_layers import MemEffAttention, NestedTensorBlock

    sys.path.pop(0)
    kwargs = {"max_depth": 20.0} if metric else {}
    model = DepthAnythingV2(encoder="vits", features=32, out_channels=[16, 32, 64, 64], **kwargs)
    model.pretrained = DinoVisionTransformer(
        img_size=518,
        patch_size=14,
        embed_dim=64,
        depth=12,
        num_heads=2,
        mlp_ratio=4,
        block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
        init_values=1.0,
        ffn_layer="mlp",
        block_chunks=0,
        num_register_tokens=0,
        interpolate_antialias=False,
        interpolate_offset=0.1,
    )
    model.depth_head = DPTHead(64, 32, False, out_channels=[16, 32, 64, 64], use_clstoken=False)
    return model


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("ls1.gamma") or name.endswith("ls2.gamma"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name.endswith(("cls_token", "pos_embed", "mask_token")):
                p.copy_(0.5 * noise)
            else:
                fan_in = max(1, p[0].numel()) if p.dim() > 1 else 1
                p.copy_(noise / fan_in**0.5)
        # Keep the relative model's output mostly above its final ReLU.
        last = model.depth_head.scratch.output_conv2[2]
        last.bias.fill_(1.0)
        # Stored as float16 (half the size); the reference runs on exactly those values.
        for p in model.parameters():
            p.copy_(p.half().float())
    model.eval()
    return model


def main():
    official = Path(sys.argv[1]).resolve()
    models = {"relative": randomise(tiny(official, False), 7), "metric": randomise(tiny(official, True), 8)}
    meta = {"relative": {"num_heads": "2"}, "metric": {"num_heads": "2", "max_depth": "20.0"}}
    for kind, m in models.items():
        sd = {k: v.half().contiguous() for k, v in m.state_dict().items()}
        save_file(sd, str(HERE / f"tiny_{kind}.safetensors"), metadata=meta[kind])

    # The relative model once more as the official releases ship it: a `torch.save`d state
    # dict (zip archive, pickled storages). Mixed on purpose: the embeddings float32, one
    # weight stored transposed (non-contiguous strides), the rest float16; same values.
    sd = {k: v.half() for k, v in models["relative"].state_dict().items()}
    for k in ("pretrained.pos_embed", "pretrained.cls_token"):
        sd[k] = sd[k].float()
    w = sd["depth_head.projects.0.weight"]
    sd["depth_head.projects.0.weight"] = w.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
    assert not sd["depth_head.projects.0.weight"].is_contiguous()
    torch.save(sd, str(HERE / "depth_anything_v2_tiny_relative.pth"))

    bgr = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    wide = np.ascontiguousarray(bgr[40:216, :, :])
    cv2.imwrite(str(HERE / "wide.png"), wide)
    wide = cv2.imread(str(HERE / "wide.png"), cv2.IMREAD_COLOR)
    out = {}
    torch.set_num_threads(1)
    for case, img, size, step in [("square", bgr, 518, 7), ("wide", wide, 154, 1)]:
        for kind, m in models.items():
            x, (h, w) = m.image2tensor(img, size)
            with torch.no_grad():
                net = m.forward(x)
            full = m.infer_image(img, size)
            # Every `step`-th row and column (the square case is large).
            out[f"{case}_input"] = x[0, :, ::step, ::step].float().contiguous()
            out[f"{case}_{kind}"] = net[0, ::step, ::step].float().contiguous()
            full = torch.from_numpy(np.ascontiguousarray(full)).float()
            out[f"{case}_{kind}_full"] = full[:: min(step, 2), :: min(step, 2)].contiguous()
            print(case, kind, tuple(x.shape), tuple(net.shape), full.shape,
                  f"{float(net.min()):.4f}..{float(net.max()):.4f}")
    save_file(out, str(HERE / "golden.safetensors"))


if __name__ == "__main__":
    main()
