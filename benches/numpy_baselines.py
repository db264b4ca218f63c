"""The numpy side of `cargo bench --bench geometry` (and `action_grid`): the same work as our
kernels on the same inputs, timed in this process, so the bench prints same-run ratios.

Usage:
  python benches/numpy_baselines.py backproject W H
      every valid pixel of a depth image lifted with its index (the depth and intrinsics
      made exactly as benches/geometry.rs makes them);
  python benches/numpy_baselines.py grid N CONFIG_DIR
      SpatialVLA's action grid over N actions, vectorised as the reference tokenizer does it
      (np.digitize to bins and ids; ids clamped per slot, bin midpoints, polar to Cartesian,
      clip, un-normalise with the Bridge key), edges and statistics read from CONFIG_DIR's
      processor_config.json.
  python benches/numpy_baselines.py pillow_png EPISODE_DIR
      every RGB and 16-bit depth PNG of a native episode (rgb/<cam>/*.png, depth/<cam>/*.png)
      decoded with Pillow into arrays, as a script would read them.
  python benches/numpy_baselines.py ego3d_torch
      the model's patch path in PyTorch (float32, CPU) as the reference computes it: 7 x 7
      average pooling of a 224 x 224 depth, the 32 x 32 sample centres lifted with K^-1, packed
      per patch to 256 x 12 (spec 5.4); same depth and intrinsics as benches/geometry.rs.
Each prints one line per measurement: `numpy <what>: <ms> ms (...)`, best of 5 runs.
"""

import json
import os

import sys
import timeit

import numpy as np


def depth(w, h):
    i = np.arange(w * h)
    d = (0.5 + (i % 97) * 0.01).astype(np.float32)
    d[i % 10 == 3] = 0.0
    return d.reshape(h, w)


def k_inv(w, h):
    f = w * 0.9
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
    return np.linalg.inv(k).astype(np.float32)


def backproject(d, kinv):
    """Every valid pixel lifted, with its index: what backproject_depth returns."""
    h, w = d.shape
    valid = (d > 0) & np.isfinite(d)
    v, u = np.nonzero(valid)
    z = d[v, u]
    uv1 = np.stack([u.astype(np.float32), v.astype(np.float32), np.ones_like(z)])
    pts = (kinv @ uv1) * z
    return v * w + u, pts.T


def grid(n, config_dir):
    cfg = json.load(open(os.path.join(config_dir, "processor_config.json")))
    bp = cfg["bin_policy"]
    edges = [np.asarray(bp["translation"][k], dtype=np.float64) for k in ("theta_bins", "phi_bins", "r_bins")]
    edges += [np.asarray(bp["rotation"][k], dtype=np.float64) for k in ("roll_bins", "pitch_bins", "yaw_bins")]
    counts = [len(e) - 1 for e in edges]
    st = cfg["statistics"]["bridge_orig/1.0.0"]["action"]
    q01, q99 = np.asarray(st["q01"]), np.asarray(st["q99"])
    mask = np.asarray(st.get("mask", [True] * 7), dtype=bool)
    rng = np.random.default_rng(7)
    acts = rng.uniform(0, 1, (n, 6, 3)).sum(axis=2) - 1.5
    grip = (rng.uniform(0, 1, n) > 0.5).astype(np.float64)
    begin = 257153

    def encode(a, g):
        a = np.clip(a, -1, 1)
        x, y, z = a[:, 0], a[:, 1], a[:, 2]
        polar = [np.arctan2(np.hypot(x, y), z), np.arctan2(y, x), np.sqrt(x * x + y * y + z * z)]
        b = [np.clip(np.digitize(v, e[1:-1]), 0, c - 1) for v, e, c in zip(polar, edges, counts)]
        b += [np.clip(np.digitize(a[:, 3 + i], edges[3 + i]) - 1, 0, counts[3 + i] - 1) for i in range(3)]
        t = b[0] * (counts[1] * counts[2]) + b[1] * counts[2] + b[2]
        q = 4096 + b[3] * 256 + b[4] * 16 + b[5]
        gb = 8192 + (np.clip(g, -1, 1) >= 0.5)
        return np.stack([t, q, gb], axis=1) + begin

    def decode(ids):
        t = np.clip(ids[:, 0], begin, begin + 4095) - begin
        q = np.clip(ids[:, 1], begin + 4096, begin + 8191) - begin - 4096
        g = np.clip(ids[:, 2], begin + 8192, begin + 8193) - begin - 8192
        bins = [t // (counts[1] * counts[2]), t // counts[2] % counts[1], t % counts[2], q // 256, q // 16 % 16, q % 16]
        mids = [(e[b] + e[b + 1]) / 2 for e, b in zip(edges, bins)]
        th, ph, r = mids[0], mids[1], mids[2]
        xyz = np.clip(np.stack([r * np.sin(th) * np.cos(ph), r * np.sin(th) * np.sin(ph), r * np.cos(th)], axis=1), -1, 1)
        n_ = np.concatenate([xyz, np.stack(mids[3:], axis=1), g[:, None].astype(np.float64)], axis=1)
        un = 0.5 * (n_ + 1) * (q99 - q01) + q01
        return np.where(mask, un, n_)

    ids = encode(acts, grip)
    for name, f in (("grid encode", lambda: encode(acts, grip)), ("grid decode", lambda: decode(ids))):
        best = min(timeit.repeat(f, number=1, repeat=5))
        print(f"numpy {name} {n}: {best * 1e3:.1f} ms ({n / best / 1e6:.2f} M actions/s)")


def pillow_png(episode_dir):
    from PIL import Image

    files = []
    for kind in ("rgb", "depth"):
        root = os.path.join(episode_dir, kind)
        for cam in sorted(os.listdir(root)):
            d = os.path.join(root, cam)
            files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".png")]

    def decode_all():
        for f in files:
            with Image.open(f) as im:
                np.asarray(im)

    best = min(timeit.repeat(decode_all, number=1, repeat=5))
    print(f"pillow png {len(files)} files: {best * 1e3:.1f} ms ({len(files) / 2 / best:.0f} RGB+depth pairs/s)")


def ego3d_torch():
    import torch
    import torch.nn.functional as F

    d = torch.from_numpy(depth(224, 224).copy())[None, None]
    kinv = torch.from_numpy(k_inv(224, 224))
    centres = 3.5 + 7 * torch.arange(32, dtype=torch.float32)

    def path():
        pooled = F.avg_pool2d(d, 7, 7)[0, 0]
        vv, uu = torch.meshgrid(centres, centres, indexing="ij")
        uv1 = torch.stack([uu, vv, torch.ones_like(uu)]).reshape(3, -1)
        pts = (kinv @ uv1) * pooled.reshape(1, -1)
        return pts.T.reshape(16, 2, 16, 2, 3).permute(0, 2, 1, 3, 4).reshape(256, 12)

    with torch.no_grad():
        n = 200
        best = min(timeit.repeat(path, number=n, repeat=5)) / n
    print(f"torch ego3d patch path 224: {best * 1e3:.3f} ms ({torch.get_num_threads()} threads, torch {torch.__version__})")


def main():
    what = sys.argv[1]
    if what == "ego3d_torch":
        ego3d_torch()
        return
    if what == "pillow_png":
        pillow_png(sys.argv[2])
        return
    if what == "grid":
        grid(int(sys.argv[2]), sys.argv[3])
        return
    if what != "backproject":
        sys.exit(f"unknown baseline {what}")
    w, h = int(sys.argv[2]), int(sys.argv[3])
    d, kinv = depth(w, h), k_inv(w, h)
    idx, pts = backproject(d, kinv)
    n = 20
    best = min(timeit.repeat(lambda: backproject(d, kinv), number=n, repeat=5)) / n
    print(f"numpy backproject {w}x{h}: {best * 1e3:.3f} ms ({len(idx)} points)")


main()
