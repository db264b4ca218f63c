"""Writes a 3-D feature dump for `spatialscope features --features3d` with the official VGGT
code (github.com/facebookresearch/vggt; the weights are yours: `model.pt` from its release).

    pip install torch torchvision safetensors  # plus the vggt package from its repository
    python scripts/vggt_dump.py --weights model.pt --image frame.png --out frame_vggt.safetensors \
        [--layer -1] [--mode pad|crop]
    # a whole episode: the frames `spatialscope features --save-frames` writes
    # (frames/step_<S>.png), one dump per step (dumps/step_<S>.safetensors), which the
    # Features panel, `features --features3d DIR` and `probe --features3d DIR` read
    python scripts/vggt_dump.py --weights model.pt --frames out/frames --out dumps/

The dump holds, for one frame (what `src/model/align.rs` reads):
- `tokens`: the patch tokens of the chosen aggregator layer (the last by default, as
  Spatial Forcing aligns), patches x 2048 float32 in raster order (the camera and register
  tokens before `patch_start_idx` dropped);
- `grid`: (patch rows, patch columns) = (H / 14, W / 14) of VGGT's preprocessed image;
- `valid`: per patch 1 for image, 0 for the padding `load_and_preprocess_images(mode="pad")`
  adds (padded patches get no similarity); all ones with `--mode crop`.

Spatial Forcing feeds VGGT the same frame the VLA sees; give this script the model camera's
frame of the step you inspect (`spatialscope features --save-frames` writes them).
Not run in this repository's tests: VGGT's weights cannot be downloaded here. The dump
format itself is exercised by `tests/it/probe.rs` and `tests/it/feature_view.rs`.
"""

import argparse

import torch
from PIL import Image
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="one frame")
    src.add_argument("--frames", help="a folder of step_<S>.png frames")
    ap.add_argument("--out", required=True, help="the dump file (--image) or folder (--frames)")
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--mode", choices=["pad", "crop"], default="pad")
    a = ap.parse_args()

    from vggt.models.vggt import VGGT

    model = VGGT()
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    model.eval()
    if a.image:
        dump(model, a.image, a.out, a)
        return
    import os
    import re

    os.makedirs(a.out, exist_ok=True)
    names = sorted(n for n in os.listdir(a.frames) if re.fullmatch(r"step_\d+\.png", n))
    if not names:
        raise SystemExit(f"{a.frames} holds no step_<S>.png frames")
    for n in names:
        stem = n[: -len(".png")]
        dump(model, os.path.join(a.frames, n), os.path.join(a.out, stem + ".safetensors"), a)


def dump(model, image, out, a):
    from vggt.utils.load_fn import load_and_preprocess_images

    images = load_and_preprocess_images([image], mode=a.mode)  # (1, 3, H, W) in [0, 1]
    h, w = images.shape[-2:]
    p = model.aggregator.patch_size if hasattr(model.aggregator, "patch_size") else 14
    with torch.no_grad():
        agg = model.aggregator(images[None])
    tokens_list, patch_start_idx = agg[0], agg[-1]
    tokens = tokens_list[a.layer][0, 0, patch_start_idx:].float().contiguous()
    rows, cols = h // p, w // p
    assert tokens.shape[0] == rows * cols, (tokens.shape, rows, cols)

    valid = torch.ones(rows, cols)
    if a.mode == "pad":
        # Which patches the padding covers: the image was scaled so its longer side is the
        # target and centred; recompute its extent from the original size.
        ow, oh = Image.open(image).size
        if ow >= oh:
            ih = round(oh * w / ow)
            top = (h - ih) // 2
            valid[:] = 0
            valid[top // p : (top + ih + p - 1) // p, :] = 1
        else:
            iw = round(ow * h / oh)
            left = (w - iw) // 2
            valid[:] = 0
            valid[:, left // p : (left + iw + p - 1) // p] = 1
    save_file(
        {
            "tokens": tokens,
            "grid": torch.tensor([rows, cols], dtype=torch.float32),
            "valid": valid.flatten().contiguous(),
        },
        out,
    )
    print(f"{out}: {rows} x {cols} patches, width {tokens.shape[1]}, {int(valid.sum())} on the image")


if __name__ == "__main__":
    main()
