#!/usr/bin/env bash
# The GPU check of issue "the real model on an NVIDIA GPU", prepared to run once on a lent
# machine (NVIDIA driver, PyTorch with its CUDA 13 wheels; no Rust toolchain, no network).
#
# Build here (CPU machine):
#   eval "$(scripts/cuda_toolchain.sh --env)"            # CUDA_COMPUTE_CAP=90 for H100/H200
#   CUDA_COMPUTE_CAP=90 cargo build --release --features cuda
#   strip -o gpu/spatialscope target/release/spatialscope && gzip -9 gpu/spatialscope
# Carry gpu/spatialscope.gz (a stripped dev build is 125 MiB, 35 MiB gzipped: the device
# carry limit is 64 MiB) and this script; on the GPU machine:
#   bash scripts/gpu_run.sh gpu/spatialscope.gz [REAL_SIZE_DIR]
#
# What it does, all in one run so the figures compare:
# 1. Finds the CUDA runtime libraries PyTorch's wheels installed (site-packages/nvidia/*/lib)
#    for the binary, which links them dynamically (candle's cudarc `dynamic-linking`).
# 2. The bundled tiny checkpoint on the sample episode: `predict` on cuda in f32 and bf16,
#    and on the CPU, the same steps: the JSON lines must give the same tokens in f32.
# 3. With REAL_SIZE_DIR (written by scripts/make_real_size_checkpoint.py, on this machine or
#    copied), `predict --image` of the reference's first case in f32 and bf16 on cuda, timed;
#    compare the tokens with REAL_SIZE_DIR/reference/reference.json.
# 4. With LIFT_BENCH, the 3-D view's frame times (see the end of this script).
# Prints everything to stdout and writes $OUT (or ./gpu_out) with the JSON lines and times.
set -euo pipefail
BIN="${1:?the spatialscope binary built with --features cuda}"
REAL="${2:-}"
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT"
if [[ "$BIN" == *.gz ]]; then
  gunzip -c "$BIN" > "$OUT/spatialscope"
  chmod +x "$OUT/spatialscope"
  BIN="$OUT/spatialscope"
fi

libs=$(python3 - <<'EOF'
import glob, os, site
dirs = set()
for sp in site.getsitepackages():
    for lib in glob.glob(os.path.join(sp, "nvidia", "**", "lib"), recursive=True):
        if glob.glob(os.path.join(lib, "lib*.so*")):
            dirs.add(lib)
print(":".join(sorted(dirs)))
EOF
)
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
ldd "$BIN" | grep -E "cuda|cublas|curand|nvrtc" || true

run() { # run NAME ARGS...
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || { echo "$name failed:"; tail -5 "$OUT/$name.err"; return 0; }
  t1=$(date +%s.%N)
  echo "$name: $(echo "$t1 - $t0" | bc) s"
  tail -2 "$OUT/$name.err"
}

SAMPLE=sample_episodes/sim_native
for dev in cpu cuda; do
  for dt in f32 bf16; do
    run "tiny_${dev}_${dt}" predict "$SAMPLE" --episode 0 --step 0 --device "$dev" --dtype "$dt" --out "$OUT/tiny_${dev}_${dt}.jsonl"
  done
done
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
def tokens(name):
    try:
        rows = [json.loads(l) for l in open(f"{out}/{name}.jsonl") if l.strip()]
        return [r["token_ids"] for r in rows if "token_ids" in r]
    except OSError:
        return None
cpu, cuda = tokens("tiny_cpu_f32"), tokens("tiny_cuda_f32")
print("tiny f32 tokens, cpu == cuda:", cpu == cuda)
EOF

if [ -n "$REAL" ]; then
  IMG=tests/golden/tiny_spatialvla/inputs/example.png
  PROMPT="What action should the robot take to pick the cup?"
  for dt in f32 bf16; do
    run "real_cuda_${dt}" predict --model "$REAL" --image "$IMG" --prompt "$PROMPT" \
      --unnorm-key bridge_orig/1.0.0 --device cuda --dtype "$dt" --max-new-tokens 12 --json
  done
  python3 - "$OUT" "$REAL" <<'EOF'
import json, sys
out, real = sys.argv[1], sys.argv[2]
ref = json.load(open(f"{real}/reference/reference.json"))["cases"][0]
for dt, key in (("f32", "generated_ids"), ("bf16", "bf16_generated_ids")):
    try:
        got = [t["id"] for t in json.load(open(f"{out}/real_cuda_{dt}.out"))["tokens"]]
    except (OSError, ValueError):
        got = None
    print(f"real size {dt}: ours {got}, reference {ref.get(key)}, identical: {got == ref.get(key)}")
EOF
fi

# 4. Issue "faster than numpy...": the 3-D view's frame time at 1, 5 and 20 M points, depth
#    lifted on the GPU against points lifted on the CPU, on this GPU. Give the lift_frames
#    bench binary, built here with
#      cargo bench --profile dev --bench lift_frames --no-run
#    (the path cargo prints, stripped), as LIFT_BENCH. It needs a Vulkan driver (NVIDIA's
#    ICD); without one it says "not measured".
if [ -n "${LIFT_BENCH:-}" ]; then
  "$LIFT_BENCH" --bench 2>&1 | tee "$OUT/lift_frames.txt" | grep -E "lift_frames:|time:|^frame/" || true
fi
