"""Reads a spatialscope .rrd back with the official Rerun SDK and checks it against what the
Rust test says the source episode holds (a JSON file): entity paths, row counts per
timeline, and values (actions, instruction, encoded image bytes, metric depth, pinhole).

Usage: python rerun_check.py RECORDING.rrd EXPECTED.json   (exit 0 = all checks passed)
"""

import hashlib
import json
import struct
import sys

from rerun.server import Server


def fail(msg):
    print(f"rerun_check: FAIL: {msg}")
    sys.exit(1)


def check_video(ds, col, order, wanted, cam):
    """A video camera: the file once as a static asset, and per step a reference to the frame
    the reader decodes for that step, which must be one of the frames Rerun finds in it."""
    import rerun as rr

    base = f"/world/cameras/{cam['name']}/image/rgb"
    static = ds.reader(index=None).to_arrow_table()
    blob_col = f"{base}:AssetVideo:blob"
    if blob_col not in static.column_names:
        fail(f"{cam['name']}: no video asset ({blob_col})")
    blob = bytes(static.column(blob_col).to_pylist()[0][0])
    if hashlib.sha256(blob).hexdigest() != cam["video"]["sha256"]:
        fail(f"{cam['name']}: the video asset is not the dataset's file")
    frames = set(int(t) for t in rr.AssetVideo(contents=blob, media_type="video/mp4").read_frame_timestamps_nanos())
    refs = col(f"{base}:VideoFrameReference:timestamp")
    want = cam["video"]["timestamps_ns"]
    for s in range(len(wanted)):
        got = refs[order[s]]
        if not got or int(got[0]) != want[wanted[s]]:
            fail(f"{cam['name']}: frame reference at step {wanted[s]}: {got} vs {want[wanted[s]]}")
        if int(got[0]) not in frames:
            fail(f"{cam['name']}: step {wanted[s]} references {got[0]} ns, not a frame of the video")


def main():
    rrd, expected_path = sys.argv[1], sys.argv[2]
    exp = json.load(open(expected_path))
    with Server(datasets={"ds": [rrd]}) as srv:
        ds = srv.client().get_dataset("ds")
        segments = ds.segment_ids()
        if len(segments) != 1:
            fail(f"expected one recording, found {segments}")
        t = ds.reader(index="step").to_arrow_table()
        cols = set(t.column_names)

        def col(name):
            if name not in cols:
                fail(f"missing column {name}; have {sorted(c for c in cols if c.startswith('/'))}")
            return t.column(name).to_pylist()

        # The steps logged: every step, or only those listed (a bookmarks export).
        wanted = exp.get("only_steps", list(range(exp["num_steps"])))
        n = len(wanted)
        steps = t.column("step").to_pylist()
        if sorted(steps) != wanted:
            fail(f"step timeline has {len(steps)} rows {steps[:5]}..., expected {wanted[:5]}...")
        # order[s]: the table row of the s-th logged step.
        order = sorted(range(len(steps)), key=lambda i: steps[i])

        for d, name in enumerate(["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]):
            values = col(f"/actions/{name}:Scalars:scalars")
            for s in range(n):
                got = values[order[s]]
                want = exp["actions"][wanted[s]][d]
                if got is None or abs(got[0] - want) > 1e-6:
                    fail(f"actions/{name} at step {s}: {got} vs {want}")

        text = col("/episode/instruction:TextDocument:text")
        if text[0] != [exp["instruction"]]:
            fail(f"instruction {text[0]} vs {exp['instruction']}")

        for cam in exp["cameras"]:
            if "video" in cam:
                check_video(ds, col, order, wanted, cam)
                continue
            blobs = col(f"/world/cameras/{cam['name']}/image/rgb:EncodedImage:blob")
            present = sum(1 for b in blobs if b)
            if present != n:
                fail(f"{cam['name']}: {present} images for {n} steps")
            first = bytes(blobs[order[0]][0])
            if hashlib.sha256(first).hexdigest() != cam["step0_sha256"]:
                fail(f"{cam['name']}: step 0 image bytes differ from the dataset's")
            media = col(f"/world/cameras/{cam['name']}/image/rgb:EncodedImage:media_type")[order[0]]
            if media != [cam["media_type"]]:
                fail(f"{cam['name']}: media type {media} vs {cam['media_type']}")
            if "depth_probe" in cam and "only_steps" not in exp:
                probe = cam["depth_probe"]
                buf = col(f"/world/cameras/{cam['name']}/image/depth:DepthImage:buffer")[order[probe["step"]]]
                raw = bytes(buf[0])
                w = cam["width"]
                i = probe["y"] * w + probe["x"]
                # Millimetre sources are stored as 16-bit millimetres (meter 1000), others
                # as float32 metres (meter 1).
                u16 = probe["u16_mm"]
                per_pixel = 2 if u16 else 4
                if len(raw) != per_pixel * w * (len(raw) // (per_pixel * w)):
                    fail(f"{cam['name']}: depth buffer of {len(raw)} bytes is not {per_pixel} per pixel")
                meter = col(f"/world/cameras/{cam['name']}/image/depth:DepthImage:meter")[order[0]]
                want_meter = 1000.0 if u16 else 1.0
                if meter != [want_meter]:
                    fail(f"{cam['name']}: depth meter {meter}, expected {want_meter}")
                if u16:
                    (stored,) = struct.unpack_from("<H", raw, 2 * i)
                else:
                    (stored,) = struct.unpack_from("<f", raw, 4 * i)
                value = stored / want_meter
                if abs(value - probe["metres"]) > 1e-6:
                    fail(f"{cam['name']}: depth {value} at {probe} vs {probe['metres']}")
            if "fx" in cam:
                pin = col(f"/world/cameras/{cam['name']}/image:Pinhole:image_from_camera")[order[0]][0]
                # Column-major 3x3: [fx, 0, 0, 0, fy, 0, cx, cy, 1].
                if abs(pin[0] - cam["fx"]) > 1e-3 or abs(pin[6] - cam["cx"]) > 1e-3:
                    fail(f"{cam['name']}: pinhole {pin} vs fx {cam['fx']} cx {cam['cx']}")

        if exp.get("fps"):
            tt = ds.reader(index="time").to_arrow_table()
            if tt.num_rows != n:
                fail(f"time timeline has {tt.num_rows} rows for {n} steps")
            last = max(tt.column("time").to_pylist())
            want = wanted[-1] / exp["fps"]
            if abs(last.total_seconds() - want) > 1e-6:
                fail(f"time of the last step {last} vs {want} s")

        if exp.get("ego3d_points"):
            pts = col(f"/world/ego3d/{exp['ego3d_camera']}:Points3D:positions")[order[0]]
            if len(pts) != exp["ego3d_points"]:
                fail(f"ego3d: {len(pts)} points at step 0")
        if exp.get("predictions"):
            toks = col("/predictions/tokens:TextLog:text")
            if sum(1 for x in toks if x) != n:
                fail("predictions/tokens missing at some steps")
            col("/predictions/dx:Scalars:scalars")
            col("/predictions/attention:Image:buffer")
            col("/predictions/estimated_depth:DepthImage:buffer")
        if exp.get("stored"):
            # An evaluation store's rows: tokens and the first action at exactly their steps.
            toks = col("/predictions/tokens:TextLog:text")
            dx = col("/predictions/dx:Scalars:scalars")
            by_step = {r["step"]: r for r in exp["stored"]}
            for s in range(n):
                row = order[s]
                r = by_step.get(wanted[s])
                if r is None:
                    if toks[row]:
                        fail(f"a stored prediction at step {wanted[s]}, which the store lacks")
                    continue
                if toks[row] != [r["tokens"]]:
                    fail(f"stored tokens at step {wanted[s]}: {toks[row]} vs {r['tokens']}")
                if r["dx"] is not None and (not dx[row] or abs(dx[row][0] - r["dx"]) > 1e-6):
                    fail(f"stored dx at step {wanted[s]}: {dx[row]} vs {r['dx']}")
    print(f"rerun_check: OK ({n} steps, {len(exp['cameras'])} cameras)")


main()
