"""Writes a 3-D feature dump for `spatialscope features --features3d` with the official VGGT
code (github.com/facebookresearch/vggt; the weights are yours: `model.pt` from its release).

    pip install torch torchvision safetensors  # plus the vggt package from its repository
    python scripts/vggt_dump.py --weights model.pt --image frame.png --out frame_vggt.safetensors \
        [--layer -1] [--mode pad|crop]

The dump holds, for one frame (what `src/model/align.rs` reads):
- `tokens`: the patch tokens of the chosen aggregator layer (the last by default, as
  Spatial Forcing aligns), patches x 2048 float32 in raster order (the camera and register
  tokens before `patch_start_idx` dropped);
- `grid`: (patch rows, patch columns) = (H / 14, W / 14) of VGGT's preprocessed image;
- `valid`: per patch 1 for image, 0 for the padding `load_and_preprocess_images(mode="pad")`
  adds (padded patches get no similarity); all ones with `--mode crop`.

Spatial Forcing feeds VGGT the same frame the VLA sees; give this script the model camera's
frame of the step you inspect (`spatialscope features` writes nothing you need for it).
Not run in this repository's tests: VGGT's weights cannot be downloaded here. The dump
format itself is exercised by `tests/it/probe.rs`.
"""

import argparse

import torch
from PIL import Image
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--mode", choices=["pad", "crop"], default="pad")
    a = ap.parse_args()

    from vggt.models.vggt import VGGT
    from vggt.utils.load_fn import load_and_preprocess_images

    model = VGGT()
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    model.eval()
    images = load_and_preprocess_images([a.image], mode=a.mode)  # (1, 3, H, W) in [0, 1]
    h, w = images.shape[-2:]
    p = model.aggregator.patch_size if hasattr(model.aggregator, "patch_size") else 14
    with torch.no_grad():
        out = model.aggregator(images[None])
    tokens_list, patch_start_idx = out[0], out[-1]
    tokens = tokens_list[a.layer][0, 0, patch_start_idx:].float().contiguous()
    rows, cols = h // p, w // p
    assert tokens.shape[0] == rows * cols, (tokens.shape, rows, cols)

    valid = torch.ones(rows, cols)
    if a.mode == "pad":
        # Which patches the padding covers: the image was scaled so its longer side is the
        # target and centred; recompute its extent from the original size.
        ow, oh = Image.open(a.image).size
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
        a.out,
    )
    print(f"{a.out}: {rows} x {cols} patches, width {tokens.shape[1]}, {int(valid.sum())} on the image")


if __name__ == "__main__":
    main()
