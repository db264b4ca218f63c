"""Builds this LeRobot v3.0 copy of the simulated episodes from the v2.1 copy beside it.

Layout as LeRobot v3.0 writes it: `meta/info.json` (codebase_version "v3.0", chunk/file
templates), `meta/episodes/chunk-000/file-000.parquet` (per-episode rows with data and video
offsets), `meta/tasks.parquet`, `meta/stats.json`, `data/chunk-000/file-00N.parquet` (episodes
0-1 packed in file 0, episode 2 in file 1, to exercise both cases) and one AV1 video per camera
with all three episodes back to back (`videos/<key>/chunk-000/file-000.mp4`), encoded the way
LeRobot does (libsvtav1, yuv420p, g=2, crf 30) from the lossless native PNG frames.

Run from the repository root: python sample_episodes/sim_lerobot_v30_av1/make.py
Needs pyarrow and an ffmpeg with libsvtav1 (Debian 12's has it).
"""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SRC = Path("sample_episodes/sim_lerobot_v21")
NATIVE = Path("sample_episodes/sim_native")
OUT = Path("sample_episodes/sim_lerobot_v30_av1")

info = json.loads((SRC / "meta/info.json").read_text())
episodes = [json.loads(l) for l in (SRC / "meta/episodes.jsonl").read_text().splitlines() if l.strip()]
fps = info["fps"]
video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]

for sub in ("meta", "data", "videos"):
    shutil.rmtree(OUT / sub, ignore_errors=True)
(OUT / "meta/episodes/chunk-000").mkdir(parents=True)
(OUT / "data/chunk-000").mkdir(parents=True)

# Data: episodes 0-1 in file 0, episode 2 in file 1; global `index` continues across files.
files = {0: [0, 1], 1: [2]}
rows_per_episode = {}
for file_index, eps in files.items():
    tables = [pq.read_table(SRC / f"data/chunk-000/episode_{e:06d}.parquet") for e in eps]
    pq.write_table(pa.concat_tables(tables), OUT / f"data/chunk-000/file-{file_index:03d}.parquet")
    for e, t in zip(eps, tables):
        rows_per_episode[e] = t.num_rows

# Videos: every episode's native PNG frames back to back, one AV1 file per camera.
from_ts = {}
for key in video_keys:
    cam = key.removeprefix("observation.images.")
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        t = 0.0
        for e in episodes:
            ep = e["episode_index"]
            from_ts[(key, ep)] = (n / fps, (n + e["length"]) / fps)
            for f in range(e["length"]):
                shutil.copy(NATIVE / f"episode_{ep:03d}/rgb/{cam}/{f:06d}.png", Path(tmp) / f"{n:06d}.png")
                n += 1
        dst = OUT / f"videos/{key}/chunk-000/file-000.mp4"
        dst.parent.mkdir(parents=True)
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(fps), "-i", f"{tmp}/%06d.png",
             "-c:v", "libsvtav1", "-pix_fmt", "yuv420p", "-g", "2", "-crf", "30", str(dst)],
            check=True,
        )

# Episode metadata.
start = 0
cols = {k: [] for k in ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                        "dataset_from_index", "dataset_to_index"]}
for key in video_keys:
    for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp"):
        cols[f"videos/{key}/{c}"] = []
for e in episodes:
    ep = e["episode_index"]
    cols["episode_index"].append(ep)
    cols["tasks"].append(e["tasks"])
    cols["length"].append(e["length"])
    cols["data/chunk_index"].append(0)
    cols["data/file_index"].append(0 if ep in files[0] else 1)
    cols["dataset_from_index"].append(start)
    cols["dataset_to_index"].append(start + e["length"])
    start += e["length"]
    for key in video_keys:
        a, b = from_ts[(key, ep)]
        cols[f"videos/{key}/chunk_index"].append(0)
        cols[f"videos/{key}/file_index"].append(0)
        cols[f"videos/{key}/from_timestamp"].append(a)
        cols[f"videos/{key}/to_timestamp"].append(b)
pq.write_table(pa.table(cols), OUT / "meta/episodes/chunk-000/file-000.parquet")

tasks = [json.loads(l) for l in (SRC / "meta/tasks.jsonl").read_text().splitlines() if l.strip()]
pq.write_table(pa.table({"task_index": [t["task_index"] for t in tasks], "task": [t["task"] for t in tasks]}),
               OUT / "meta/tasks.parquet")

shutil.copy(SRC / "meta/stats.json", OUT / "meta/stats.json")
cams = json.loads((SRC / "meta/cameras.json").read_text())
cams.pop("depth_path", None)
cams.pop("depth_encoding", None)
cams["note"] = "Non-standard sidecar (not read by the lerobot library): per-camera K and the extrinsics column. No depth in this copy."
for c in cams["cameras"].values():
    c.pop("depth_key", None)
(OUT / "meta/cameras.json").write_text(json.dumps(cams, indent=2))

info["codebase_version"] = "v3.0"
info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
info["data_files_size_in_mb"] = 100
info["video_files_size_in_mb"] = 500
for key in video_keys:
    info["features"][key]["info"]["video.codec"] = "av1"
(OUT / "meta/info.json").write_text(json.dumps(info, indent=4))
print("wrote", OUT)
