"""The Rerun Python SDK exporting the same episode `spatialscope export` exports: what a user
would otherwise write. `benches/export.rs` runs it after its own figures (with the Python in
SPATIALSCOPE_PYTHON, which needs rerun-sdk, numpy, Pillow and h5py) and prints its lines.

    python rerun_sdk_export.py native EPISODE_DIR OUT.rrd
    python rerun_sdk_export.py hdf5 FILE.hdf5 DEMO OUT.rrd [--jpeg QUALITY]

Logged per step, as spatialscope logs it: each camera's pinhole (once), its pose (once if
static, per step if it moves), its RGB and its metric depth under the pinhole, the action's
seven scalars and the end-effector position. Native PNG frames go in as the files' own bytes
(`rr.EncodedImage`, no decode); HDF5 frames are raw arrays, logged raw (`rr.Image`) or, with
--jpeg, compressed by the SDK (`rr.Image(...).compress(jpeg_quality=...)`). Depth: 16-bit
millimetres as stored in native episodes, float32 metres as stored in HDF5. spatialscope
also logs the model's 1,024 Ego3D samples per step; this script does not (a few kB per step).

Prints one line: the seconds spent logging and saving (imports excluded, reported apart)
and the file size.
"""

import json
import os
import sys
import time

T_START = time.perf_counter()
import numpy as np  # noqa: E402
import rerun as rr  # noqa: E402
from PIL import Image  # noqa: E402

IMPORT_S = time.perf_counter() - T_START


def log_pose(name, pose, static):
    """Camera `name`'s world-from-camera pose, once (static) or at the current step."""
    rr.log(
        f"world/{name}",
        rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]),
        static=bool(static),
    )


def pinhole(name, k, w, h):
    """Camera `name`'s intrinsics, once."""
    rr.log(
        f"world/{name}",
        rr.Pinhole(image_from_camera=np.asarray(k, dtype=np.float32), resolution=[w, h]),
        static=True,
    )


def log_action(action, eef):
    for i, v in enumerate(action):
        rr.log(f"action/{i}", rr.Scalars(float(v)))
    if eef is not None:
        rr.log("world/eef", rr.Points3D([eef], radii=0.01))


def native(ep_dir, out):
    meta = json.load(open(os.path.join(ep_dir, "episode.json")))
    rr.init("rerun_sdk_export", spawn=False)
    rr.save(out)
    cams = meta["cameras"]
    for name, c in cams.items():
        pinhole(name, c["K"], c["width"], c["height"])
        if c.get("static"):
            log_pose(name, np.asarray(c["world_from_camera_opencv"]), True)
    for f in meta["frames"]:
        i = f["index"]
        rr.set_time("step", sequence=i)
        for name, c in cams.items():
            if not c.get("static"):
                pose = np.asarray(f["camera_extrinsics"][name]["world_from_camera_opencv"])
                log_pose(name, pose, False)
            rgb = os.path.join(ep_dir, c["rgb_path"].format(frame=i))
            rr.log(f"world/{name}/rgb", rr.EncodedImage(path=rgb))
            depth = np.asarray(Image.open(os.path.join(ep_dir, c["depth_path"].format(frame=i))))
            rr.log(f"world/{name}/depth", rr.DepthImage(depth, meter=1000.0))
        log_action(f["action_7d"], f["proprio"]["eef_pos_m"])
    rr.disconnect()


def hdf5(path, demo, out, jpeg):
    import h5py

    rr.init("rerun_sdk_export", spawn=False)
    rr.save(out)
    with h5py.File(path, "r") as h:
        d = h[f"data/{demo}"]
        names = list(d["camera_params"].keys())
        n = d["actions"].shape[0]
        images = {c: d[f"obs/{c}_image"][()] for c in names}
        depths = {c: d[f"obs/{c}_depth"][()] for c in names}
        poses = {c: d[f"camera_params/{c}/world_from_camera_opencv"][()] for c in names}
        actions = d["actions"][()]
        eef = d["obs/robot0_eef_pos"][()]
        for c in names:
            hh, ww = images[c].shape[1:3]
            pinhole(c, d[f"camera_params/{c}/K"][()], ww, hh)
        for i in range(n):
            rr.set_time("step", sequence=i)
            for c in names:
                log_pose(c, poses[c][i], False)
                img = rr.Image(images[c][i])
                if jpeg is not None:
                    img = img.compress(jpeg_quality=jpeg)
                rr.log(f"world/{c}/rgb", img)
                rr.log(f"world/{c}/depth", rr.DepthImage(depths[c][i][..., 0], meter=1.0))
            log_action(actions[i], eef[i])
    rr.disconnect()


def main():
    t = time.perf_counter()
    args = sys.argv[1:]
    if args[0] == "native":
        native(args[1], args[2])
        out, label = args[2], "native"
    else:
        jpeg = int(args[args.index("--jpeg") + 1]) if "--jpeg" in args else None
        hdf5(args[1], args[2], args[3], jpeg)
        out = args[3]
        label = "hdf5" + (f" jpeg{jpeg}" if jpeg else " raw images")
    s = time.perf_counter() - t
    size = os.path.getsize(out)
    print(
        f"rerun_sdk_export {label}: {s * 1000:.0f} ms logging + saving "
        f"(imports {IMPORT_S * 1000:.0f} ms more), {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
