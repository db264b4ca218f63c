"""Writes the simulated sample episodes in the layout RLBench's dataset generator writes,
with RLBench's own data classes and depth encoder.

RLBench itself needs CoppeliaSim to *record*; its data classes (`rlbench.demo.Demo`,
`rlbench.backend.observation.Observation`) and its encoder (`rlbench.backend.utils.
float_array_to_rgb_image`) need only numpy and Pillow. They are loaded here straight from a
checkout of the public stepjam/RLBench repository under their real module names, so the
pickles name `rlbench.demo.Demo` and `rlbench.backend.observation.Observation` exactly as a
recorded dataset does, and `save_demo`'s steps are followed: images to `<cam>_rgb/<i>.png`,
depth (normalised between the camera's near and far planes, as RLBench stores it) to
`<cam>_depth/<i>.png` in the 24-bit RGB encoding, masks to `<cam>_mask/<i>.png`, image fields
set to None, then `pickle.dump(demo)` to `low_dim_obs.pkl`. Masks (all zero here: the
sim episodes have no segmentation) are not written, to keep the samples small.

The cameras are the sim episodes' `agentview` (as RLBench's `front`) and
`robot0_eye_in_hand` (as `wrist`). Each observation's `misc` holds what PyRep's
`VisionSensor` reports: `<cam>_camera_extrinsics` (`get_matrix()`: world-from-camera in
CoppeliaSim's camera axes, x left, y up, z forward), `<cam>_camera_intrinsics`
(`get_intrinsic_matrix()`: negative focal lengths, principal point at W/2, H/2) and the
near/far planes. The source camera (OpenCV axes, principal point (W-1)/2) is converted to
those conventions, so the half-pixel offset PyRep's intrinsics carry is present here as in
real data. `expected.json` records, per episode and camera, world points at a few pixels
computed the way PyRep's `pointcloud_from_depth_and_camera_params` does, from the decoded
files, for the reader's test.

Layouts: `lift/variation0/episodes/episode0` (the generator's own: descriptions in the
variation folder) and `stack/all_variations/episodes/episode0` (PerAct's: descriptions and
the variation number in each episode folder; its first 20 steps only, pickled with
protocol 3 as the Python 3.6-3.7 of PerAct-era datasets did).

Run from the repository root:
    python sample_episodes/sim_rlbench/make.py --rlbench /path/to/RLBench [--native DIR]
Needs numpy and Pillow.
"""
import argparse
import importlib.util
import json
import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path("sample_episodes/sim_rlbench")
NEAR_M = 0.01
FAR_M = 4.5
CAMERAS = {"agentview": "front", "robot0_eye_in_hand": "wrist"}
# Pixels (u, v) whose world points the test checks, per camera, scaled to the image size.
PROBE_FRACTIONS = [(0.0, 0.0), (0.5, 0.5), (0.25, 0.75), (0.9, 0.1), (0.99, 0.99)]


def load_rlbench(repo: Path):
    """Loads RLBench's data modules under their real names without running its package
    __init__ (which starts the simulator)."""
    for pkg in ("rlbench", "rlbench.backend"):
        m = types.ModuleType(pkg)
        m.__path__ = [str(repo / pkg.replace(".", "/"))]
        sys.modules[pkg] = m
    mods = {}
    for name in ("rlbench.backend.const", "rlbench.backend.observation", "rlbench.demo",
                 "rlbench.backend.utils"):
        spec = importlib.util.spec_from_file_location(name, repo / (name.replace(".", "/") + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods


def pyrep_intrinsics(k_cv, w, h):
    """What PyRep's get_intrinsic_matrix reports for this camera: -f, principal point W/2."""
    return np.array(
        [[-k_cv[0][0], 0.0, w / 2.0], [0.0, -k_cv[1][1], h / 2.0], [0.0, 0.0, 1.0]]
    )


def pyrep_extrinsics(world_from_cam_cv):
    """CoppeliaSim camera axes (x left, y up, z forward) from OpenCV's (x right, y down)."""
    return np.array(world_from_cam_cv, dtype=np.float64) @ np.diag([-1.0, -1.0, 1.0, 1.0])


def pyrep_points(depth_m, extrinsics, intrinsics, pixels):
    """World points at `pixels` the way PyRep's pointcloud_from_depth_and_camera_params
    computes them: inverse of K [R^T | -R^T C] applied to (u d, v d, d, 1)."""
    r = extrinsics[:3, :3]
    c = extrinsics[:3, 3:4]
    proj = intrinsics @ np.concatenate([r.T, -r.T @ c], axis=1)
    inv = np.linalg.inv(np.concatenate([proj, [[0, 0, 0, 1]]]))[:3]
    out = []
    for u, v in pixels:
        d = float(depth_m[v, u])
        out.append((inv @ np.array([u * d, v * d, d, 1.0])).tolist())
    return out


def quat_to_matrix(pos, q_xyzw):
    x, y, z, w = q_xyzw
    r = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = pos
    return m


def write_episode(mods, native_ep: Path, out_ep: Path, variation: int, expected: dict,
                  steps=None, protocol=pickle.DEFAULT_PROTOCOL):
    Observation = mods["rlbench.backend.observation"].Observation
    Demo = mods["rlbench.demo"].Demo
    encode = mods["rlbench.backend.utils"].float_array_to_rgb_image
    scale = mods["rlbench.backend.const"].DEPTH_SCALE
    meta = json.loads((native_ep / "episode.json").read_text())
    meta["frames"] = meta["frames"][:steps]
    shutil.rmtree(out_ep, ignore_errors=True)
    observations = []
    probes = {}
    for i, frame in enumerate(meta["frames"]):
        fields = {}
        misc = {}
        for src_cam, cam in CAMERAS.items():
            c = meta["cameras"][src_cam]
            w, h = c["width"], c["height"]
            rgb = np.array(Image.open(native_ep / c["rgb_path"].format(frame=i)).convert("RGB"))
            depth_mm = np.array(Image.open(native_ep / c["depth_path"].format(frame=i)))
            depth_m = depth_mm.astype(np.float64) * c["depth_encoding"]["scale_to_metres"]
            normalised = (depth_m - NEAR_M) / (FAR_M - NEAR_M)
            ext = pyrep_extrinsics(frame["camera_extrinsics"][src_cam]["world_from_camera_opencv"])
            intr = pyrep_intrinsics(c["K"], w, h)
            misc[f"{cam}_camera_extrinsics"] = ext
            misc[f"{cam}_camera_intrinsics"] = intr
            misc[f"{cam}_camera_near"] = NEAR_M
            misc[f"{cam}_camera_far"] = FAR_M
            for kind in ("rgb", "depth"):
                (out_ep / f"{cam}_{kind}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(out_ep / f"{cam}_rgb/{i}.png")
            encode(normalised, scale_factor=scale).save(out_ep / f"{cam}_depth/{i}.png")
            fields[cam] = None
            if i in (0, len(meta["frames"]) - 1):
                # Decode the file as RLBench's get_stored_demos does, then lift the probes.
                enc = np.array(Image.open(out_ep / f"{cam}_depth/{i}.png")).astype(np.float64)
                stored = (enc[..., 0] * 65536 + enc[..., 1] * 256 + enc[..., 2]) / scale
                stored_m = NEAR_M + stored * (FAR_M - NEAR_M)
                pixels = [(min(int(fu * w), w - 1), min(int(fv * h), h - 1)) for fu, fv in PROBE_FRACTIONS]
                probes.setdefault(cam, {})[str(i)] = {
                    "pixels_uv": pixels,
                    "depth_m": [float(stored_m[v, u]) for u, v in pixels],
                    "world_points_m": pyrep_points(stored_m, ext, intr, pixels),
                }
        p = frame["proprio"]
        width = p["gripper_qpos_m"][0] - p["gripper_qpos_m"][1]
        pose = np.array(p["eef_pos_m"] + p["eef_quat_xyzw"], dtype=np.float64)
        obs = Observation(
            left_shoulder_rgb=None, left_shoulder_depth=None, left_shoulder_mask=None,
            left_shoulder_point_cloud=None, right_shoulder_rgb=None, right_shoulder_depth=None,
            right_shoulder_mask=None, right_shoulder_point_cloud=None, overhead_rgb=None,
            overhead_depth=None, overhead_mask=None, overhead_point_cloud=None, wrist_rgb=None,
            wrist_depth=None, wrist_mask=None, wrist_point_cloud=None, front_rgb=None,
            front_depth=None, front_mask=None, front_point_cloud=None,
            joint_velocities=np.zeros(7),
            joint_positions=np.array(p["joint_pos_rad"], dtype=np.float64),
            joint_forces=np.zeros(7),
            gripper_open=1.0 if width > 0.9 * 0.08 else 0.0,
            gripper_pose=pose,
            gripper_matrix=quat_to_matrix(pose[:3], pose[3:]),
            gripper_joint_positions=np.array(p["gripper_qpos_m"], dtype=np.float64),
            gripper_touch_forces=np.zeros(6),
            task_low_dim_state=np.array(frame["objects"]["cube"]["pos_m"], dtype=np.float64)
            if "cube" in frame.get("objects", {}) else np.zeros(3),
            misc={**misc, "variation_index": variation},
        )
        observations.append(obs)
    demo = Demo(observations, random_seed=np.random.RandomState(meta["source"]["seed"]).get_state())
    with open(out_ep / "low_dim_obs.pkl", "wb") as f:
        pickle.dump(demo, f, protocol=protocol)
    expected[str(out_ep.relative_to(OUT))] = {
        "source": str(native_ep.name),
        "instruction": meta["instruction"],
        "num_steps": len(meta["frames"]),
        "near_m": NEAR_M,
        "far_m": FAR_M,
        "probes": probes,
    }
    return meta["instruction"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlbench", type=Path, required=True, help="checkout of stepjam/RLBench")
    ap.add_argument("--native", type=Path, default=Path("sample_episodes/sim_native"))
    args = ap.parse_args()
    mods = load_rlbench(args.rlbench)
    expected = {}
    for sub in ("lift", "stack"):
        shutil.rmtree(OUT / sub, ignore_errors=True)
    # The generator's layout: descriptions in the variation folder.
    var = OUT / "lift/variation0"
    instr = write_episode(mods, args.native / "episode_000", var / "episodes/episode0", 0, expected)
    with open(var / "variation_descriptions.pkl", "wb") as f:
        pickle.dump([instr, "lift the red cube"], f)
    # PerAct's all_variations layout: descriptions and variation number per episode.
    ep = OUT / "stack/all_variations/episodes/episode0"
    instr = write_episode(mods, args.native / "episode_001", ep, 0, expected, steps=20, protocol=3)
    with open(ep / "variation_descriptions.pkl", "wb") as f:
        pickle.dump([instr, "put the red cube on the green one"], f)
    with open(ep / "variation_number.pkl", "wb") as f:
        pickle.dump(0, f)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
