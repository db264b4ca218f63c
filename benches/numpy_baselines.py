"""The numpy side of `cargo bench --bench geometry` (and `action_grid`): the same work as our
kernels on the same inputs, timed in this process, so the bench prints same-run ratios.

Usage: python benches/numpy_baselines.py backproject W H   -> best-of-N milliseconds
The depth image and intrinsics are made exactly as benches/geometry.rs makes them.
Prints one line: `numpy backproject WxH: <ms> ms (<points> points)`.
"""

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


def main():
    what, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if what != "backproject":
        sys.exit(f"unknown baseline {what}")
    d, kinv = depth(w, h), k_inv(w, h)
    idx, pts = backproject(d, kinv)
    n = 20
    best = min(timeit.repeat(lambda: backproject(d, kinv), number=n, repeat=5)) / n
    print(f"numpy backproject {w}x{h}: {best * 1e3:.3f} ms ({len(idx)} points)")


main()
